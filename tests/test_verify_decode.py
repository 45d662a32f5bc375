"""--verify-decode decodes each bitstream in a fresh process from its bytes alone."""

from __future__ import annotations

import sqlite3

from .conftest import FIXTURES, run_cli


def test_verify_decode_passes_for_real_codecs_and_catches_a_leaky_one(image_folder, tmp_path, env):
    out = tmp_path / "o"
    res = run_cli(["run", "--dataset", str(image_folder), "--codecs", "jpeg,leaky", "--rates", "50",
                   "--metrics", "psnr", "--out", str(out), "--workers", "1", "--verify-decode",
                   "--codec-path", str(FIXTURES / "user_codecs")], env)
    con = sqlite3.connect(out / "bench.sqlite")
    rows = con.execute("SELECT codec, status, verified, error FROM jobs").fetchall()
    jpeg = [r for r in rows if r[0] == "jpeg"]
    leaky = [r for r in rows if r[0] == "leaky"]
    assert len(jpeg) == 3 and all(r[1] == "ok" and r[2] == 1 for r in jpeg)
    assert len(leaky) == 3 and all(r[1] == "error" and "--verify-decode" in r[3] for r in leaky)
    assert res.returncode == 1
