"""The results store: one SQLite database (WAL) in the output folder plus artifact files.

Rows are committed one transaction per finished job, so a crash or Ctrl-C loses only
the jobs in flight and a re-run skips every committed key. Paths of artifacts are stored
relative to the output folder so a results folder can be moved or archived whole.
This is the only module that runs SQL; the tables and their rows are in schema.py.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import BenchError
from . import schema as S
from .migrations import migrate

DB_NAME = "bench.sqlite"
CHUNK = 500     # host parameters per IN (...) query


def _chunks(keys: Iterable[str]):
    keys = list(keys)
    for i in range(0, len(keys), CHUNK):
        yield keys[i:i + CHUNK]


class Store:
    def __init__(self, out_dir: str | Path, create: bool = True):
        self.root = Path(out_dir)
        self.path = self.root / DB_NAME
        if not create and not self.path.exists():
            raise BenchError(f"no results in {self.root} ({DB_NAME} not found); run `bench run --out {self.root}` first")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.migrated_from = migrate(self.db, self.path)
        self.db.executescript(S.ddl())
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(S.SCHEMA_VERSION),))

    def _put(self, table: S.Table, rows, verb: str = "INSERT OR REPLACE") -> None:
        self.db.executemany(table.insert(verb), [table.values(r) for r in rows])

    # --- artifacts ------------------------------------------------------------------
    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def abspath(self, rel: str | None) -> Path | None:
        return None if rel is None else self.root / rel

    # --- runs -----------------------------------------------------------------------
    def start_run(self, run_id: str, argv: list[str], environment: dict) -> None:
        self._put(S.RUNS, [S.RunRow(run_id, time.time(), None, json.dumps(argv),
                                    json.dumps(environment, default=str))])

    def finish_run(self, run_id: str, environment: dict | None = None) -> None:
        self.db.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))
        if environment is not None:
            self.db.execute("UPDATE runs SET environment=? WHERE run_id=?",
                            (json.dumps(environment, default=str), run_id))

    def runs(self) -> list[dict]:
        """Every run, oldest first, with how many job rows it wrote (`jobs`) and failed (`failed`)."""
        q = ("SELECT r.*, count(j.key) AS jobs, sum(j.status != 'ok') AS failed FROM runs r "
             "LEFT JOIN jobs j ON j.run_id = r.run_id GROUP BY r.run_id ORDER BY r.started")
        return [dict(r) for r in self.db.execute(q)]

    # --- jobs -----------------------------------------------------------------------
    def put_codec_config(self, config_hash: str, codec: str, describe: dict) -> None:
        self._put(S.CODEC_CONFIGS, [S.CodecConfigRow(config_hash, codec, json.dumps(describe, sort_keys=True,
                                                                                    default=str))], "INSERT OR IGNORE")

    def job_status(self, keys: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(keys):
            q = f"SELECT key, status FROM jobs WHERE key IN ({','.join('?' * len(chunk))})"
            out.update({r["key"]: r["status"] for r in self.db.execute(q, chunk)})
        return out

    def put_job(self, row: S.JobRow) -> None:
        """One transaction: the row, and the removal of the metrics of any earlier outcome."""
        row = dataclasses.replace(row, created=row.created or time.time())
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM metrics WHERE key=?", (row.key,))
            self._put(S.JOBS, [row])

    def ok_jobs(self, keys: Iterable[str]) -> list[S.JobRow]:
        """The finished (status ok) rows among these keys, in the order given."""
        keys = list(keys)
        found: dict[str, S.JobRow] = {}
        for chunk in _chunks(keys):
            q = f"SELECT * FROM jobs WHERE status='ok' AND key IN ({','.join('?' * len(chunk))})"
            found.update({r["key"]: S.JOBS.from_sql(r) for r in self.db.execute(q, chunk)})
        return [found[k] for k in keys if k in found]

    def codecs_run_on(self, dataset: str) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT codec FROM jobs WHERE dataset=?", (dataset,))}

    # --- metrics --------------------------------------------------------------------
    def put_metric_info(self, metric: str, metadata: dict, versions: dict) -> None:
        self._put(S.METRIC_INFO, [S.MetricInfoRow(metric, json.dumps(metadata), json.dumps(versions))])

    def put_metrics(self, rows: Iterable[S.MetricRow]) -> None:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self._put(S.METRICS, [dataclasses.replace(r, created=r.created or now) for r in rows])

    def metric_columns_done(self, keys: Iterable[str]) -> dict[str, set[str]]:
        """Job key -> metric columns already stored with a value (errors are retried)."""
        out: dict[str, set[str]] = {}
        for chunk in _chunks(keys):
            q = (f"SELECT key, metric FROM metrics WHERE value IS NOT NULL AND "
                 f"key IN ({','.join('?' * len(chunk))})")
            for r in self.db.execute(q, chunk):
                out.setdefault(r["key"], set()).add(r["metric"])
        return out

    def put_dataset_metric(self, row: S.DatasetMetricRow) -> None:
        self._put(S.DATASET_METRICS, [dataclasses.replace(row, mask_set=row.mask_set or "",
                                                          created=row.created or time.time())])

    def dataset_metric_counts(self, point: tuple) -> dict[str, int]:
        """metric -> n_images of the values stored for one RD point (schema.POINT_KEY order)."""
        where = " AND ".join(f"{c}=?" for c in S.POINT_KEY)
        rows = self.db.execute(f"SELECT metric, n_images FROM dataset_metrics WHERE {where} AND value IS NOT NULL",
                               tuple(point))
        return {r["metric"]: r["n_images"] for r in rows}

    # --- reference curves -----------------------------------------------------------
    def put_reference_curves(self, name: str, dataset: str, rows: list[S.ReferencePointRow]) -> None:
        """Replace the named curve's points for the metrics in `rows` (one transaction)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM reference_points WHERE name=? AND dataset=? AND metric=?",
                                [(name, dataset, m) for m in dict.fromkeys(r.metric for r in rows)])
            self._put(S.REFERENCE_POINTS, rows, "INSERT")

    def reference_frame(self):
        import pandas as pd
        return pd.read_sql_query("SELECT * FROM reference_points", self.db)

    def reference_sources(self) -> list[dict]:
        """One entry per imported curve: name, dataset, file, sha256, description, metrics."""
        q = ("SELECT name, dataset, source, source_sha256, description, group_concat(DISTINCT metric) AS metrics, "
             "max(imported) AS imported FROM reference_points GROUP BY name, dataset ORDER BY dataset, name")
        return [dict(r) for r in self.db.execute(q)]

    # --- reading for tables / exports / reports --------------------------------------
    def frame(self):
        """All job rows as a pandas DataFrame, one column per metric (wide)."""
        import pandas as pd
        jobs = pd.read_sql_query(f"SELECT {', '.join(S.JOB_COLUMNS)} FROM jobs", self.db)
        metrics = pd.read_sql_query("SELECT key, metric, value FROM metrics", self.db)
        if len(metrics):
            wide = metrics.pivot_table(index="key", columns="metric", values="value", aggfunc="first")
            wide.columns.name = None
            jobs = jobs.merge(wide, left_on="key", right_index=True, how="left")
        return jobs

    def dataset_metrics_frame(self):
        import pandas as pd
        return pd.read_sql_query("SELECT * FROM dataset_metrics", self.db)

    def metric_info(self) -> dict[str, dict]:
        return {r["metric"]: {"metadata": json.loads(r["metadata"]), "versions": json.loads(r["versions"])}
                for r in self.db.execute("SELECT * FROM metric_info")}

    def codec_configs(self) -> dict[str, dict]:
        return {r["config_hash"]: json.loads(r["describe"]) for r in self.db.execute("SELECT * FROM codec_configs")}

    def close(self) -> None:
        self.db.close()
