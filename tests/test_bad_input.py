"""Bad input gets one clear message and no traceback; bad images are skipped, the rest run."""

from __future__ import annotations

import pytest

from .conftest import FIXTURES, run_cli


def _one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0]


@pytest.mark.parametrize("args, needles", [
    (["--codecs", "jpg"], ["unknown codec 'jpg'", "did you mean 'jpeg'"]),
    (["--dataset", "kodac"], ["unknown dataset 'kodac'", "did you mean 'kodak'"]),
    (["--codecs", "jpeg", "--rates", "150"], ["rate 150", "[1, 100]"]),
    (["--codecs", "jpeg", "--rates", "abc"], ["'abc' is not a number"]),
    (["--metrics", "lpipz"], ["unknown metric 'lpipz'"]),
])
def test_clear_errors(args, needles, tmp_path, env):
    _one_line_error(run_cli(["run", "--out", str(tmp_path / "o"), *args], env), *needles)


def test_empty_folder(tmp_path, env):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(run_cli(["run", "--dataset", str(empty), "--out", str(tmp_path / "o")], env),
                    "holds no readable images")


def test_named_dataset_not_downloaded(tmp_path, env):
    _one_line_error(run_cli(["run", "--dataset", "div2k-valid-hr", "--out", str(tmp_path / "o")],
                            {**env, "BENCH_DATA": str(tmp_path / "nodata")}),
                    "bench datasets download div2k-valid-hr")


def test_corrupt_image_is_reported_and_skipped(image_folder, tmp_path, env):
    (image_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (image_folder / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    res = run_cli(["run", "--dataset", str(image_folder), "--codecs", "jpeg", "--rates", "50", "--metrics", "psnr",
                   "--out", str(tmp_path / "o"), "--workers", "1"], env)
    assert res.returncode == 0, res.stderr
    err = " ".join(res.stderr.split())
    assert "skipped image" in err and "broken.png" in err and "truncated.jpg" in err
    assert "Traceback" not in res.stderr
    assert "3 jobs done, 0 failed" in err


def test_failing_job_is_recorded_and_the_run_goes_on(image_folder, tmp_path, env):
    from bench.image import load_rgb
    first_pixel = int(load_rgb(image_folder / "img1.png")[0, 0, 0])
    res = run_cli(["run", "--dataset", str(image_folder), "--codecs", "slow-png", "--rates", "1", "--metrics",
                   "psnr", "--out", str(tmp_path / "o"), "--workers", "1", "--codec-path",
                   str(FIXTURES / "user_codecs")],
                  {**env, "SLOW_PNG_SECONDS": "0", "SLOW_PNG_FAIL_ON": str(first_pixel)})
    assert res.returncode == 1
    err = " ".join(res.stderr.split())
    assert "2 jobs done, 1 failed" in err and "refusing this image on purpose" in err
    import sqlite3
    con = sqlite3.connect(tmp_path / "o" / "bench.sqlite")
    rows = dict(con.execute("SELECT image, status FROM jobs").fetchall())
    assert rows == {"img0": "ok", "img1": "error", "img2": "ok"}
