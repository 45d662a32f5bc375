"""Killing a run part-way (SIGKILL or SIGINT) and re-running completes only the missing jobs."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time

import pytest

from .conftest import BENCH, FIXTURES, ROOT

ARGS = ["run", "--codecs", "slow-png", "--rates", "1,3,6", "--metrics", "psnr", "--workers", "1",
        "--codec-path", str(FIXTURES / "user_codecs")]


def _rows(db) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT key, status, created FROM jobs ORDER BY key").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_resumes_without_losing_or_duplicating_rows(sig, image_folder, tmp_path, env):
    out = tmp_path / "out"
    args = ARGS + ["--dataset", str(image_folder), "--out", str(out)]
    env = {**env, "SLOW_PNG_SECONDS": "0.5"}          # 9 jobs, about 5 s in all
    # a test run launched in the background (nohup cmd &) inherits SIGINT ignored, and Python
    # then never raises KeyboardInterrupt: give the run the default disposition a terminal has
    proc = subprocess.Popen(BENCH + args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    db = out / "bench.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and len(_rows(db)) < 3 if db.exists() else time.time() < deadline:
        time.sleep(0.1)
    if sig == signal.SIGKILL:
        import os
        os.killpg(proc.pid, signal.SIGKILL)      # the whole process group: runner and workers
    else:
        proc.send_signal(signal.SIGINT)          # what Ctrl-C sends to the runner
    proc.communicate(timeout=60)
    before = _rows(db)
    assert 3 <= len(before) < 9, "the run must be interrupted part-way"
    assert all(status == "ok" for _, status, _ in before)

    second = subprocess.run(BENCH + args, env={**env, "SLOW_PNG_SECONDS": "0"}, cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"{len(before)} already done, {9 - len(before)} to run" in " ".join(second.stderr.split())
    after = _rows(db)
    assert len(after) == 9 and len({k for k, _, _ in after}) == 9
    assert all(status == "ok" for _, status, _ in after)
    # rows finished before the interruption were kept as they were, not redone
    assert set(before) <= set(after)
    con = sqlite3.connect(db)
    n_metric = con.execute("SELECT COUNT(*) FROM metrics WHERE metric='psnr' AND value IS NOT NULL").fetchone()[0]
    assert n_metric == 9


def test_rerun_of_a_finished_run_does_no_work(image_folder, tmp_path, env):
    out = tmp_path / "out"
    args = ARGS + ["--dataset", str(image_folder), "--out", str(out), "--rates", "1"]
    env = {**env, "SLOW_PNG_SECONDS": "0"}
    first = subprocess.run(BENCH + args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    rows = _rows(out / "bench.sqlite")
    second = subprocess.run(BENCH + args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "3 already done, 0 to run" in " ".join(second.stderr.split())
    assert _rows(out / "bench.sqlite") == rows
