"""The results store: one SQLite database (WAL) in the output folder plus artifact files.

Rows are committed one transaction per finished job, so a crash or Ctrl-C loses only
the jobs in flight and a re-run skips every committed key. Paths of artifacts are stored
relative to the output folder so a results folder can be moved or archived whole.
This is the only module that runs SQL; the tables and their rows are in schema.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import BenchError
from ..paths import check_writable_dir
from . import schema as S
from .lock import writer_lock
from .migrations import migrate, stored_version

DB_NAME = "bench.sqlite"
CHUNK = 500     # host parameters per IN (...) query


def _chunks(keys: Iterable[str]):
    keys = list(keys)
    for i in range(0, len(keys), CHUNK):
        yield keys[i:i + CHUNK]


class Store:
    """`create=True` (writers: run, import): makes the folder and tables, upgrades old stores.
    `create=False` (readers: results, plot, bdrate, report): opens read-only, so archived
    results on read-only media or in someone else's folder can be read without writing."""

    def __init__(self, out_dir: str | Path, create: bool = True):
        self.root = Path(out_dir)
        self.path = self.root / DB_NAME
        self.readonly = not create
        if self.root.exists() and not self.root.is_dir():
            raise BenchError(f"results folder {self.root} is a file, not a folder; pass a folder to --out")
        if not create and not self.path.exists():
            raise BenchError(f"no results in {self.root} ({DB_NAME} not found); run `bench run --out {self.root}` first")
        if create:
            self._check_writable()
        self.db = self._connect()
        self.migrated_from = None
        if self.readonly and (stored_version(self.db) or S.SCHEMA_VERSION) < S.SCHEMA_VERSION:
            # an older store is upgraded in place by the first command that opens it, if it may write
            self.db.close()
            if not os.access(self.root, os.W_OK) or not os.access(self.path, os.W_OK):
                raise BenchError(f"{self.path} was written by an older bench and is read-only here, so it cannot be "
                                 f"upgraded; copy the results folder somewhere writable and read the copy")
            self.readonly = False
            self.db = self._connect()
        if self.readonly:
            return
        for attempt in range(20):
            try:
                self._set_up()
                break
            except sqlite3.OperationalError as exc:
                # switching a new file to WAL takes a lock that SQLite's busy timeout does not wait for
                if "locked" not in str(exc) or attempt == 19:
                    self.db.close()
                    raise self._busy_or(exc) from None
                time.sleep(0.5)

    def _set_up(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.migrated_from = migrate(self.db, self.path)
        self.db.executescript(S.ddl())
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(S.SCHEMA_VERSION),))

    def writer_lock(self):
        """Context manager: this process is the folder's only writer until it exits (see lock.py)."""
        return writer_lock(self.root)

    def _check_writable(self) -> None:
        try:
            check_writable_dir(self.root)
            if self.path.exists() and not os.access(self.path, os.W_OK):
                raise PermissionError(self.path)
        except PermissionError:
            raise BenchError(f"results folder {self.root} is read-only; pass a writable --out (read commands such "
                             f"as `bench results --out {self.root}` work on it as it is)") from None
        except OSError as exc:
            raise BenchError(f"cannot use {self.root} as a results folder: {exc.strerror}; pass another --out") from None

    def _connect(self) -> sqlite3.Connection:
        """Connect and check the file is an intact SQLite database before anything writes to it."""
        try:
            if self.readonly:
                db = self._connect_readonly()
            else:
                db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.row_factory = sqlite3.Row
            if self.path.exists() and self.path.stat().st_size:
                verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
                if verdict != "ok":
                    raise sqlite3.DatabaseError(verdict)
            return db
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise self._busy_or(exc) from None
            raise BenchError(f"cannot open results store {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise BenchError(f"{self.path} is not a readable results store ({exc}: corrupt or truncated); it was "
                             f"left untouched: restore it from a copy, or pass another --out to start afresh") from None

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            # A WAL store in a folder nobody may write to: SQLite cannot make its shared-memory
            # file, so read the database file as immutable (archived results are not being written).
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)

    def _busy_or(self, exc: sqlite3.OperationalError) -> Exception:
        if "locked" in str(exc):
            return BenchError(f"results store {self.path} is busy (another bench process is writing it); wait for "
                              f"it to finish or pass another --out")
        return BenchError(f"cannot write results store {self.path}: {exc}")

    def has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

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

    def put_skipped_images(self, dataset: str, skipped: list[tuple[str, str]], run_id: str) -> None:
        """The dataset's unreadable images as this run found them (a fixed image drops off the list)."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM skipped_images WHERE dataset=?", (dataset,))
            self._put(S.SKIPPED_IMAGES, [S.SkippedImageRow(dataset, str(p), r, run_id, now) for p, r in skipped])

    def skipped_images(self, dataset: str | None = None) -> list[dict]:
        """Images skipped as unreadable: dataset, path, reason (stores written before this table: none)."""
        if not self.has_table("skipped_images"):
            return []
        q, args = "SELECT dataset, path, reason FROM skipped_images", ()
        if dataset is not None:
            q, args = q + " WHERE dataset=?", (dataset,)
        return [dict(r) for r in self.db.execute(q + " ORDER BY dataset, path", args)]

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

    def metric_errors(self, keys: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """Metric column -> [(job key, reason)] for the values that could not be computed."""
        out: dict[str, list[tuple[str, str]]] = {}
        for chunk in _chunks(keys):
            q = (f"SELECT key, metric, error FROM metrics WHERE value IS NULL AND "
                 f"key IN ({','.join('?' * len(chunk))}) ORDER BY metric, key")
            for r in self.db.execute(q, chunk):
                out.setdefault(r["metric"], []).append((r["key"], r["error"] or "no value"))
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
