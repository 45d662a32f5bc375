"""A results folder written by an older bench (tests/fixtures/store_v1, made by the previous
main) opens, migrates in place, and reports exactly what that bench reported."""

from __future__ import annotations

import io
import shutil
import sqlite3

import pytest

from bench.store import SCHEMA_VERSION, Store

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
    """Every cell the old bench printed, unchanged; columns added since (corpus bpp) are left aside."""
    table = run_cli(["results", "--out", str(v1_store)], env)
    assert table.returncode == 0, table.stderr
    new = _cells(table.stdout)
    assert "(corpus)" in table.stdout and all(r[3] == r[4] for r in new)   # one image size: corpus = mean bpp
    assert [r[:4] + r[5:] for r in new] == _cells((V1 / "results.txt").read_text())
    got = run_cli(["results", "--out", str(v1_store), "--format", "csv"], env)

    import pandas as pd
    old = pd.read_csv(V1 / "results.csv")
    new = pd.read_csv(io.StringIO(got.stdout))
    pd.testing.assert_frame_equal(new[old.columns], old)


def _cells(text: str) -> list[list[str]]:
    """The body rows of a rich table as lists of cells."""
    return [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines()
            if line.lstrip().startswith("│")]
