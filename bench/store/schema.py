"""The row schema of a results store, defined once.

Each table is a dataclass; its fields are the table's columns, in order, and their Python
types give the SQL types. The planner builds `JobRow`s, workers fill their outcome, the
store writes and reads them, and results/export read the same column names from here.
Nothing else in the code base spells a column list.

Version history (bench.store.migrations upgrades older stores in place):
  1  first release (jobs.run_id existed but was never filled; reference_points was
     created on first import)
  2  jobs.codec_spec; jobs.run_id filled for every row; reference_points always present
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 2


@dataclass
class RunRow:
    """One `bench run`: command line and environment (library versions, machine, commit)."""
    run_id: str
    started: float | None = None
    finished: float | None = None     # None: the run was interrupted
    argv: str | None = None           # JSON list
    environment: str | None = None    # JSON object


@dataclass
class CodecConfigRow:
    config_hash: str
    codec: str
    describe: str                     # JSON: Codec.describe()


@dataclass
class JobRow:
    """One (codec configuration, rate point, image, mask) job: planned, then its outcome.

    The plan fields make the cache key (see bench.pipeline.plan); a job planned with
    `error` set (its mask is missing) fails with that error.
    """
    key: str
    dataset: str
    image: str
    image_hash: str
    image_path: str
    height: int
    width: int
    codec: str
    codec_spec: str                   # as given to --codecs, options included
    config_hash: str
    rate_param: str
    rate: float | None                # None when the point is a target bpp (the knob is searched)
    target_bpp: float | None
    setting: str                      # the rate point as text: "quality=50" or "target_bpp=0.1"
    mask_set: str | None = None
    mask_hash: str | None = None
    mask_path: str | None = None
    run_id: str | None = None         # the run that wrote the row
    # outcome
    status: str | None = None         # ok | error
    error: str | None = None
    bytes: int | None = None
    bpp: float | None = None
    bpp_source: str | None = None     # measured | estimated
    encode_s: float | None = None
    decode_s: float | None = None
    bitstream_path: str | None = None  # relative to the results folder
    recon_path: str | None = None
    recon_hash: str | None = None
    verified: int | None = None       # 1: decoded again in a fresh process
    detail: str | None = None         # JSON: rate search, batching
    created: float | None = None

    def outcome(self, **values: Any) -> "JobRow":
        return dataclasses.replace(self, **values)


@dataclass
class MetricRow:
    """A per-image value: (job key, column) -> value; columns are `psnr`, `roi-psnr`, `bg-psnr`, ..."""
    key: str
    metric: str
    value: float | None
    error: str | None = None
    created: float | None = None


@dataclass
class MetricInfoRow:
    metric: str
    metadata: str                     # JSON: Metric.metadata() plus the region
    versions: str                     # JSON: library versions and weight hashes


@dataclass
class DatasetMetricRow:
    """A dataset-level value (FID, KID) of one (dataset, codec config, rate point, mask set)."""
    dataset: str
    codec: str
    config_hash: str
    setting: str
    mask_set: str
    metric: str
    value: float | None
    n_images: int
    detail: str | None = None         # JSON
    error: str | None = None
    created: float | None = None


@dataclass
class ReferencePointRow:
    """One point of an imported published curve (`bench import`)."""
    name: str
    dataset: str
    metric: str
    idx: int
    bpp: float | None
    value: float | None
    source: str
    source_sha256: str
    description: str
    imported: float


@dataclass
class SkippedImageRow:
    """An image of the dataset that the last run over it could not read (and so did not measure)."""
    dataset: str
    path: str
    reason: str
    run_id: str | None = None
    created: float | None = None


@dataclass
class MetaRow:
    key: str
    value: str


_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL"}


@dataclass(frozen=True)
class Table:
    name: str
    row: type
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.row))

    def sql_type(self, column: str) -> str:
        f = next(f for f in dataclasses.fields(self.row) if f.name == column)
        return _SQL_TYPES[str(f.type).split("|")[0].strip()]

    def ddl(self) -> str:
        cols = [f"{c} {self.sql_type(c)}" for c in self.columns]
        lines = [f"CREATE TABLE IF NOT EXISTS {self.name}({', '.join(cols)}, "
                 f"PRIMARY KEY({', '.join(self.primary_key)}));"]
        lines += [f"CREATE INDEX IF NOT EXISTS {n} ON {self.name}({', '.join(c)});" for n, c in self.indexes]
        return "\n".join(lines)

    def insert(self, verb: str = "INSERT OR REPLACE") -> str:
        return f"{verb} INTO {self.name} ({', '.join(self.columns)}) VALUES ({', '.join('?' * len(self.columns))})"

    def values(self, row) -> tuple:
        return tuple(getattr(row, c) for c in self.columns)

    def from_sql(self, record) -> Any:
        """A row object from a sqlite3.Row (columns the store lacks are left at None)."""
        keys = set(record.keys())
        return self.row(**{c: (record[c] if c in keys else None) for c in self.columns})


RUNS = Table("runs", RunRow, ("run_id",))
CODEC_CONFIGS = Table("codec_configs", CodecConfigRow, ("config_hash",))
JOBS = Table("jobs", JobRow, ("key",), indexes=(("jobs_group", ("dataset", "codec", "config_hash", "setting")),
                                                ("jobs_run", ("run_id",))))
METRICS = Table("metrics", MetricRow, ("key", "metric"))
METRIC_INFO = Table("metric_info", MetricInfoRow, ("metric",))
DATASET_METRICS = Table("dataset_metrics", DatasetMetricRow,
                        ("dataset", "codec", "config_hash", "setting", "mask_set", "metric"))
REFERENCE_POINTS = Table("reference_points", ReferencePointRow, ("name", "dataset", "metric", "idx"))
SKIPPED_IMAGES = Table("skipped_images", SkippedImageRow, ("dataset", "path"))
META = Table("meta", MetaRow, ("key",))
TABLES = (META, RUNS, CODEC_CONFIGS, JOBS, METRICS, METRIC_INFO, DATASET_METRICS, REFERENCE_POINTS, SKIPPED_IMAGES)

JOB_COLUMNS: tuple[str, ...] = JOBS.columns
# The per-image export (`bench export`): job columns in this order, then one column per metric.
EXPORT_COLUMNS: tuple[str, ...] = (
    "dataset", "image", "codec", "config_hash", "rate_param", "rate", "target_bpp", "setting", "mask_set",
    "status", "error", "height", "width", "bytes", "bpp", "bpp_source", "encode_s", "decode_s", "verified",
    "bitstream_path", "recon_path", "image_hash", "key", "run_id")
# The columns that identify one RD point (a curve point per codec configuration and rate point).
POINT_KEY: tuple[str, ...] = ("dataset", "codec", "config_hash", "setting", "mask_set")
REGIONS: tuple[str, ...] = ("roi", "bg")   # metric column prefixes: `roi-psnr`, `bg-psnr`


def ddl() -> str:
    return "\n".join(t.ddl() for t in TABLES)

