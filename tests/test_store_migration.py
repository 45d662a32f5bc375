"""A results folder written by an older bench (tests/fixtures/store_v1, made by the previous
main) opens, migrates in place, and reports exactly what that bench reported."""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3

import pytest

from bench.errors import BenchError
from bench.store import SCHEMA_VERSION, Store
from bench.store import migrations as M

from .conftest import FIXTURES, run_cli

V1 = FIXTURES / "store_v1"


@pytest.fixture
def v1_store(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    shutil.copy(V1 / "bench.sqlite", out / "bench.sqlite")
    return out


def _db(out):
    return sqlite3.connect(out / "bench.sqlite")


def test_fixture_is_a_version_1_store(v1_store):
    db = _db(v1_store)
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    assert "codec_spec" not in {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    assert db.execute("SELECT count(*), count(run_id) FROM jobs").fetchone() == (42, 0)


def test_migration_fills_run_ids_and_codec_specs(v1_store):
    store = Store(v1_store)
    assert store.migrated_from == 1
    store.close()
    db = _db(v1_store)
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    per_run = db.execute("SELECT r.run_id, count(j.key) FROM runs r JOIN jobs j ON j.run_id = r.run_id "
                         "GROUP BY r.run_id ORDER BY r.started").fetchall()
    assert [n for _, n in per_run] == [18, 18, 3, 3]           # the four runs that made the fixture
    # each row's write time falls inside the run it was given
    assert db.execute("SELECT count(*) FROM jobs j JOIN runs r ON j.run_id = r.run_id "
                      "WHERE j.created < r.started OR j.created > r.finished").fetchone() == (0,)
    assert dict(db.execute("SELECT codec, codec_spec FROM jobs GROUP BY codec")) == {
        "jpeg": "jpeg", "webp": "webp", "slow-png": "slow-png"}
    assert Store(v1_store).migrated_from == SCHEMA_VERSION      # a second open changes nothing


def test_results_after_migration_are_what_the_old_bench_printed(v1_store, env):
    table = run_cli(["results", "--out", str(v1_store)], env)
    assert table.returncode == 0, table.stderr
    assert table.stdout == (V1 / "results.txt").read_text()
    got = run_cli(["results", "--out", str(v1_store), "--format", "csv"], env)
    assert got.stdout == (V1 / "results.csv").read_text()


def test_results_runs_lists_each_run_with_its_environment(v1_store, env):
    res = run_cli(["results", "--out", str(v1_store), "--runs", "--format", "csv"], env)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [int(r["jobs"]) for r in rows] == [18, 18, 3, 3]
    assert [int(r["failed"]) for r in rows] == [0, 0, 0, 1]
    assert all(r["torch"] == "2.13.0" and r["commit"] == "e64c42faac" and r["dataset"] == "imgs" for r in rows)
    assert "--target-bpp 1.0" in rows[2]["command"]


def test_a_failed_migration_leaves_the_store_as_it_was(v1_store, monkeypatch):
    def broken(db):
        db.execute("ALTER TABLE jobs ADD COLUMN codec_spec TEXT")
        raise RuntimeError("killed half-way")
    monkeypatch.setitem(M.MIGRATIONS, 1, broken)
    with pytest.raises(RuntimeError, match="half-way"):
        Store(v1_store)
    db = _db(v1_store)
    assert "codec_spec" not in {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)


def test_a_store_from_a_newer_bench_is_refused(v1_store):
    db = _db(v1_store)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(BenchError, match="written by a newer bench .*schema 99.*upgrade bench"):
        Store(v1_store)
