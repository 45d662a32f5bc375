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


# --- bad folders, bad stores, image rules, recorded skips, exit status, locks ------------------------------

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.errors import BenchError
from bench.image import load_rgb

from .conftest import BENCH, ROOT, write_images


def _jpeg_run(folder, out, env, *extra):
    return run_cli(["run", "--dataset", str(folder), "--codecs", "jpeg", "--rates", "50", "--metrics", "psnr",
                    "--out", str(out), "--workers", "0", *extra], env)


@pytest.fixture(scope="module")
def finished_results(tmp_path_factory):
    """One finished results folder (3 images, jpeg q50, psnr), copied by each test that needs it."""
    base = tmp_path_factory.mktemp("finished")
    folder = write_images(base / "imgs", [(192, 256)] * 3)
    env = {**os.environ, "BENCH_CACHE": str(base / "cache"), "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    res = _jpeg_run(folder, base / "out", env)
    assert res.returncode == 0, res.stderr
    return base / "out"


def _copy_results(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _digest(path: Path) -> bytes:
    import hashlib
    return hashlib.sha256(path.read_bytes()).digest()


def test_out_that_is_a_file(image_folder, tmp_path, env):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    _one_line_error(_jpeg_run(image_folder, target, env), "is a file, not a folder")
    assert target.read_text() == "not a folder"


def _run_unprivileged(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """The CLI as a user for whom read-only means read-only: root writes through permission bits,
    so root's run drops the capabilities that let it (setpriv, util-linux)."""
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a folder read-only for the test")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    return subprocess.run(prefix + BENCH + args, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_read_only_results_folder_reads_but_refuses_writes(finished_results, tmp_path, env, image_folder):
    ro = _copy_results(finished_results, tmp_path / "archived")
    for p in [*ro.rglob("*"), ro]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = _digest(ro / "bench.sqlite")
    try:
        res = _run_unprivileged(["results", "--out", str(ro)], env)
        assert res.returncode == 0, res.stderr
        assert "jpeg" in res.stdout and "Traceback" not in res.stderr
        res = _run_unprivileged(["run", "--dataset", str(image_folder), "--codecs", "jpeg", "--rates", "50",
                                 "--metrics", "psnr", "--out", str(ro), "--workers", "0"], env)
        _one_line_error(res, "is read-only", "pass a writable --out")
        _one_line_error(_run_unprivileged(["report", "--out", str(ro)], env), "cannot write the report",
                        "pass --report-dir")
        assert _digest(ro / "bench.sqlite") == before
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(0o755)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_store_is_named_and_left_untouched(damage, finished_results, tmp_path, env, image_folder):
    out = _copy_results(finished_results, tmp_path / "out")
    db = out / "bench.sqlite"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not sqlite at all " * 300)
    before = _digest(db)
    _one_line_error(run_cli(["results", "--out", str(out)], env), "bench.sqlite is not a readable results store",
                    "restore it")
    _one_line_error(_jpeg_run(image_folder, out, env), "not a readable results store", "another --out")
    assert _digest(db) == before


def _png16(path: Path, channels: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 48-bit RGB)."""
    import struct
    import zlib
    h, w = 8, 8
    arr = (np.arange(h * w * channels).reshape(h, w * channels) * 700).astype(">u2")
    raw = b"".join(b"\0" + arr[i].tobytes() for i in range(h))

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    colour = {1: 0, 3: 2}[channels]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [1, 3])
def test_sixteen_bit_images_follow_one_rule(channels, tmp_path):
    path = tmp_path / f"deep{channels}.png"
    _png16(path, channels)
    with pytest.raises(BenchError) as err:
        load_rgb(path)
    assert "16-bit image" in str(err.value) and "convert it to 8 bits per channel" in str(err.value)


def test_transparency_is_refused_but_opaque_alpha_is_not(tmp_path):
    rgba = np.full((8, 8, 4), 200, np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    assert load_rgb(tmp_path / "opaque.png").tolist() == rgba[..., :3].tolist()
    rgba[:2, :, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "holes.png")
    with pytest.raises(BenchError) as err:
        load_rgb(tmp_path / "holes.png")
    assert "has transparency (16 pixels with alpha < 255)" in str(err.value)


def test_skipped_images_are_recorded_and_cleared(image_folder, tmp_path, env):
    from bench.store import Store
    _png16(image_folder / "deep.png", 3)
    out = tmp_path / "o"
    res = _jpeg_run(image_folder, out, env)
    assert res.returncode == 0, res.stderr
    assert "1 image(s) skipped as unreadable" in " ".join(res.stderr.split())
    store = Store(out, create=False)
    skipped = store.skipped_images()
    store.close()
    assert [(Path(s["path"]).name, "16-bit image" in s["reason"]) for s in skipped] == [("deep.png", True)]
    shown = run_cli(["results", "--out", str(out)], env)
    assert "1 image(s) skipped as unreadable" in shown.stderr and "deep.png" in shown.stderr
    (image_folder / "deep.png").unlink()
    assert _jpeg_run(image_folder, out, env).returncode == 0
    store = Store(out, create=False)
    assert store.skipped_images() == []
    store.close()


def test_full_image_roi_mask_says_why_background_is_empty(image_folder, tmp_path, env):
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(3):
        m = np.zeros((192, 256), np.uint8)
        m[40:120, 60:200] = 255
        Image.fromarray(np.full_like(m, 255) if i == 0 else m).save(masks / f"img{i}.png")
    out = tmp_path / "o"
    res = _jpeg_run(image_folder, out, env, "--roi-masks", str(masks))
    assert res.returncode == 0, res.stderr
    err = " ".join(res.stderr.split())
    assert "bg-psnr: 1 value(s) not computed" in err and "covers the whole image" in err
    con = sqlite3.connect(out / "bench.sqlite")
    rows = dict(con.execute("SELECT j.image, m.error FROM metrics m JOIN jobs j ON j.key = m.key "
                            "WHERE m.metric = 'bg-psnr' AND m.value IS NULL").fetchall())
    assert list(rows) == ["img0"] and "no background" in rows["img0"]
    assert con.execute("SELECT count(*) FROM metrics WHERE metric='roi-psnr' AND value IS NOT NULL").fetchone()[0] == 3


def test_import_counts_only_finite_points(tmp_path, env):
    csv = tmp_path / "paper.csv"
    csv.write_text("bpp,psnr\n0.1,28.0\n0.2,nan\n0.4,33.5\n,34.0\n0.8,36.0\n")
    out = tmp_path / "o"
    res = run_cli(["import", str(csv), "--dataset", "kodak", "--out", str(out)], env)
    assert res.returncode == 0, res.stderr
    assert "psnr (3 points; 2 non-finite left out)" in res.stdout
    con = sqlite3.connect(out / "bench.sqlite")
    assert con.execute("SELECT bpp, value FROM reference_points ORDER BY idx").fetchall() == [
        (0.1, 28.0), (0.4, 33.5), (0.8, 36.0)]
    allnan = tmp_path / "empty.csv"
    allnan.write_text("bpp,psnr\n0.1,nan\n0.2,\n")
    _one_line_error(run_cli(["import", str(allnan), "--dataset", "kodak", "--out", str(out)], env),
                    "'psnr' has no point with a finite bpp and value")
    assert con.execute("SELECT count(*) FROM reference_points").fetchone()[0] == 3


def test_metric_that_cannot_run_fails_the_exit_status(image_folder, tmp_path, env):
    weights = tmp_path / "no-weights"
    weights.mkdir()
    res = run_cli(["run", "--dataset", str(image_folder), "--codecs", "jpeg", "--rates", "50", "--metrics",
                   "psnr,clipiqa", "--out", str(tmp_path / "o"), "--workers", "0"],
                  {**env, "BENCH_WEIGHTS_DIR": str(weights)})
    assert res.returncode == 1, res.stderr
    err = " ".join(res.stderr.split())
    assert "metric 'clipiqa' could not run" in err and "1 requested metric(s) not computed: clipiqa" in err
    con = sqlite3.connect(tmp_path / "o" / "bench.sqlite")
    assert con.execute("SELECT count(*) FROM metrics WHERE metric='psnr' AND value > 20").fetchone()[0] == 3


def _slow_run(image_folder, out, env, seconds="1.5"):
    args = ["run", "--dataset", str(image_folder), "--codecs", "slow-png", "--rates", "1", "--metrics", "psnr",
            "--out", str(out), "--workers", "0", "--codec-path", str(FIXTURES / "user_codecs")]
    return subprocess.Popen(BENCH + args, env={**env, "SLOW_PNG_SECONDS": seconds}, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_rows(db: Path, n: int, proc, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                if sqlite3.connect(db).execute("SELECT count(*) FROM jobs").fetchone()[0] >= n:
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    raise AssertionError("no job finished in time")


def test_ctrl_c_says_how_to_resume(image_folder, tmp_path, env):
    out = tmp_path / "o"
    proc = _slow_run(image_folder, out, env)
    _wait_for_rows(out / "bench.sqlite", 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: finished jobs are stored; re-run the same command to resume" in err
    assert "Traceback" not in err


def test_second_run_on_one_folder_is_told_and_the_first_finishes(image_folder, tmp_path, env):
    out = tmp_path / "o"
    first = _slow_run(image_folder, out, env, seconds="4")   # long enough to outlast the second start-up
    _wait_for_rows(out / "bench.sqlite", 1, first)
    second = run_cli(["run", "--dataset", str(image_folder), "--codecs", "jpeg", "--rates", "50", "--metrics",
                      "psnr", "--out", str(out), "--workers", "0"], env)
    _one_line_error(second, "is being written by another bench process", f"pid {first.pid}", "pass another --out")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    con = sqlite3.connect(out / "bench.sqlite")
    assert con.execute("SELECT codec, count(*) FROM jobs WHERE status='ok' GROUP BY codec").fetchall() == [
        ("slow-png", 3)]
