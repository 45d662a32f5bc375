"""Upgrading a results store written by an older bench, in place and in one transaction.

`MIGRATIONS[n]` takes a store at schema version n to n + 1; an interrupted upgrade rolls
back, leaving the store as it was. A store newer than this bench is refused (opening it
would silently drop what the newer version records).
"""

from __future__ import annotations

import json
import sqlite3

from ..errors import BenchError
from .schema import SCHEMA_VERSION


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def _v1_to_v2(db: sqlite3.Connection) -> None:
    """jobs.codec_spec (from the stored describe()), and run_id for rows written before it was
    recorded: the last run to start before the row was written (runs on one folder ran one
    after another; a row rewritten by a retry carries the retry's time)."""
    if "codec_spec" not in _columns(db, "jobs"):
        db.execute("ALTER TABLE jobs ADD COLUMN codec_spec TEXT")
    for config_hash, codec, describe in db.execute("SELECT config_hash, codec, describe FROM codec_configs").fetchall():
        options = (json.loads(describe) or {}).get("options") or {}
        spec = codec + (":" + ",".join(f"{k}={v}" for k, v in sorted(options.items())) if options else "")
        db.execute("UPDATE jobs SET codec_spec=? WHERE config_hash=? AND codec_spec IS NULL", (spec, config_hash))
    db.execute("UPDATE jobs SET codec_spec=codec WHERE codec_spec IS NULL")
    db.execute("UPDATE jobs SET run_id = (SELECT run_id FROM runs WHERE started <= jobs.created "
               "ORDER BY started DESC LIMIT 1) WHERE run_id IS NULL")


MIGRATIONS = {1: _v1_to_v2}


def stored_version(db: sqlite3.Connection) -> int | None:
    """The store's schema version, or None for an empty database."""
    has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return None
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 1


def migrate(db: sqlite3.Connection, path) -> int | None:
    """Bring the store to SCHEMA_VERSION; returns the version it had (None: new)."""
    version = stored_version(db)
    if version is None or version == SCHEMA_VERSION:
        return version
    if version > SCHEMA_VERSION:
        raise BenchError(f"{path} was written by a newer bench (store schema {version}, this bench reads up to "
                         f"{SCHEMA_VERSION}); upgrade bench to read it")
    db.execute("BEGIN IMMEDIATE")
    try:
        for v in range(version, SCHEMA_VERSION):
            MIGRATIONS[v](db)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return version
