"""The results store: one SQLite database (WAL) in the output folder plus artifact files.

Rows are committed one transaction per finished job, so a crash or Ctrl-C loses only
the jobs in flight and a re-run skips every committed key. Paths of artifacts are stored
relative to the output folder so a results folder can be moved or archived whole.

Tables
  jobs            one row per (codec config, rate point, image, mask) job: bytes, bpp, times,
                  artifact paths, status/error
  metrics         per-image metric values, long format: (job key, column) -> value; columns
                  are `psnr`, `roi-psnr`, `bg-psnr`, ...
  dataset_metrics dataset-level values (FID, KID) per (dataset, codec config, rate point, mask set)
  codec_configs   describe() of every codec configuration by its hash
  metric_info     metadata and library versions of every metric column written
  runs            one row per `bench run`: command line, library versions, machine
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

SCHEMA_VERSION = 1
DB_NAME = "bench.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY, started REAL, finished REAL, argv TEXT, environment TEXT);
CREATE TABLE IF NOT EXISTS codec_configs(
  config_hash TEXT PRIMARY KEY, codec TEXT, describe TEXT);
CREATE TABLE IF NOT EXISTS jobs(
  key TEXT PRIMARY KEY, run_id TEXT,
  dataset TEXT, image TEXT, image_hash TEXT, image_path TEXT, height INTEGER, width INTEGER,
  codec TEXT, config_hash TEXT, rate_param TEXT, rate REAL, target_bpp REAL, setting TEXT,
  mask_set TEXT, mask_hash TEXT, mask_path TEXT,
  status TEXT, error TEXT,
  bytes INTEGER, bpp REAL, bpp_source TEXT, encode_s REAL, decode_s REAL,
  bitstream_path TEXT, recon_path TEXT, recon_hash TEXT, verified INTEGER, detail TEXT,
  created REAL);
CREATE INDEX IF NOT EXISTS jobs_group ON jobs(dataset, codec, config_hash, setting);
CREATE TABLE IF NOT EXISTS metrics(
  key TEXT, metric TEXT, value REAL, error TEXT, created REAL, PRIMARY KEY(key, metric));
CREATE TABLE IF NOT EXISTS metric_info(metric TEXT PRIMARY KEY, metadata TEXT, versions TEXT);
CREATE TABLE IF NOT EXISTS dataset_metrics(
  dataset TEXT, codec TEXT, config_hash TEXT, setting TEXT, mask_set TEXT, metric TEXT,
  value REAL, n_images INTEGER, detail TEXT, error TEXT, created REAL,
  PRIMARY KEY(dataset, codec, config_hash, setting, mask_set, metric));
"""

JOB_COLUMNS = ("key", "run_id", "dataset", "image", "image_hash", "image_path", "height", "width",
               "codec", "config_hash", "rate_param", "rate", "target_bpp", "setting",
               "mask_set", "mask_hash", "mask_path", "status", "error", "bytes", "bpp",
               "bpp_source", "encode_s", "decode_s", "bitstream_path", "recon_path", "recon_hash",
               "verified", "detail", "created")


class Store:
    def __init__(self, out_dir: str | Path, create: bool = True):
        self.root = Path(out_dir)
        self.path = self.root / DB_NAME
        if not create and not self.path.exists():
            from .errors import BenchError
            raise BenchError(f"no results in {self.root} ({DB_NAME} not found); run `bench run --out {self.root}` first")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    # --- artifacts ------------------------------------------------------------------
    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def abspath(self, rel: str | None) -> Path | None:
        return None if rel is None else self.root / rel

    # --- runs -----------------------------------------------------------------------
    def start_run(self, run_id: str, argv: list[str], environment: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?)",
                        (run_id, time.time(), None, json.dumps(argv), json.dumps(environment, default=str)))

    def finish_run(self, run_id: str, environment: dict | None = None) -> None:
        self.db.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))
        if environment is not None:
            self.db.execute("UPDATE runs SET environment=? WHERE run_id=?",
                            (json.dumps(environment, default=str), run_id))

    # --- jobs -----------------------------------------------------------------------
    def put_codec_config(self, config_hash: str, codec: str, describe: dict) -> None:
        self.db.execute("INSERT OR IGNORE INTO codec_configs VALUES (?,?,?)",
                        (config_hash, codec, json.dumps(describe, sort_keys=True, default=str)))

    def job_status(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, status FROM jobs WHERE key IN ({','.join('?' * len(chunk))})"
            out.update({r["key"]: r["status"] for r in self.db.execute(q, chunk)})
        return out

    def put_job(self, row: dict[str, Any]) -> None:
        row = {**row, "created": row.get("created") or time.time()}
        if isinstance(row.get("detail"), dict):
            row["detail"] = json.dumps(row["detail"], default=str)
        values = [row.get(c) for c in JOB_COLUMNS]
        with self.db:  # one transaction: the row and its stale metrics go together
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM metrics WHERE key=?", (row["key"],))
            self.db.execute(f"INSERT OR REPLACE INTO jobs ({','.join(JOB_COLUMNS)}) VALUES "
                            f"({','.join('?' * len(JOB_COLUMNS))})", values)

    def jobs(self, where: str = "1=1", params: tuple = ()) -> list[sqlite3.Row]:
        return list(self.db.execute(f"SELECT * FROM jobs WHERE {where}", params))

    # --- metrics --------------------------------------------------------------------
    def put_metric_info(self, metric: str, metadata: dict, versions: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO metric_info VALUES (?,?,?)",
                        (metric, json.dumps(metadata), json.dumps(versions)))

    def put_metrics(self, rows: Iterable[tuple[str, str, float | None, str | None]]) -> None:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?)",
                                [(k, m, v, e, now) for k, m, v, e in rows])

    def metric_columns_done(self, keys: Iterable[str]) -> dict[str, set[str]]:
        """Job key -> metric columns already stored with a value (errors are retried)."""
        keys = list(keys)
        out: dict[str, set[str]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = (f"SELECT key, metric FROM metrics WHERE value IS NOT NULL AND "
                 f"key IN ({','.join('?' * len(chunk))})")
            for r in self.db.execute(q, chunk):
                out.setdefault(r["key"], set()).add(r["metric"])
        return out

    def put_dataset_metric(self, dataset: str, codec: str, config_hash: str, setting: str,
                           mask_set: str | None, metric: str, value: float | None, n_images: int,
                           detail: dict | None = None, error: str | None = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO dataset_metrics VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (dataset, codec, config_hash, setting, mask_set or "", metric, value, n_images,
                         json.dumps(detail or {}, default=str), error, time.time()))

    # --- reading for tables / exports / reports --------------------------------------
    def frame(self):
        """All job rows as a pandas DataFrame, one column per metric (wide)."""
        import pandas as pd
        jobs = pd.read_sql_query("SELECT * FROM jobs", self.db)
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

    def runs(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY started")]

    def close(self) -> None:
        self.db.close()
