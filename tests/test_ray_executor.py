"""The Ray executor: the same rows and artifacts as the local process pool, a worker killed
mid-job costs that job only, --verify-decode runs on the Ray workers, and close() from
another thread stops a run. One local Ray instance (2 CPUs) serves the whole file."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.codec import make_codec
from bench.datasets import resolve_dataset
from bench.errors import BenchError
from bench.image import load_rgb, pixel_sha256
from bench.pipeline.executors import ProcessPool, RayExecutor
from bench.pipeline.plan import plan_jobs
from bench.pipeline.worker import pixels

from .conftest import smooth_image, write_images

ray = pytest.importorskip("ray")

TRICK_CODEC = '''
import io
import os
import signal
import time
import numpy as np
from PIL import Image
from bench.codec import Codec, register_codec

@register_codec
class TrickPNG(Codec):
    """Lossless PNG, except that its process dies on the image marked (1, 2, 3) at level 6,
    and it dawdles on the image marked (4, 5, 6)."""
    name = "trick-png"
    rate_param = "level"
    rate_range = (0, 9)
    default_rates = (1, 6)
    extension = "png"

    def encode(self, image, rate, roi=None):
        if int(rate) == 6 and tuple(image[0, 0]) == (1, 2, 3):
            os.kill(os.getpid(), signal.SIGKILL)
        if tuple(image[0, 0]) == (4, 5, 6):
            time.sleep(60)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG", compress_level=int(rate))
        return buf.getvalue()

    def decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
'''


@pytest.fixture(scope="module")
def ray_instance():
    scratch = set(Path(tempfile.gettempdir()).glob("bench-ray-*"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    for left in set(Path(tempfile.gettempdir()).glob("bench-ray-*")) - scratch:
        if not any(left.iterdir()):     # the empty folders of the tasks these tests killed or cancelled
            left.rmdir()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("data") / "imgs", [(64, 96), (64, 96)])


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codecs")
    (folder / "trick_png.py").write_text(textwrap.dedent(TRICK_CODEC))
    return folder


def marked_images(folder, marks):
    """64x96 test images t<i>.png, each with its top-left pixel set to its mark (None: untouched)."""
    folder.mkdir()
    for i, mark in enumerate(marks):
        img = smooth_image(i, 64, 96)
        if mark:
            img[0, 0] = mark
        Image.fromarray(img).save(folder / f"t{i}.png")
    return folder


def planned(folder, specs, rates=(), codec_paths=()):
    codecs = {s: make_codec(s, list(codec_paths)) for s in specs}
    return plan_jobs(resolve_dataset(str(folder)), codecs, list(rates), [])


def test_importing_the_executors_does_not_import_ray():
    code = "import sys, bench.pipeline.executors; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_ray_the_executor_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)      # `import ray` raises ImportError
    with pytest.raises(BenchError, match=r"pip install ray==2\.60\.0"):
        RayExecutor(tmp_path)


def test_ray_gives_the_same_rows_and_artifacts_as_the_local_pool(ray_instance, images, tmp_path):
    jobs = planned(images, ["jpeg", "webp"], rates=[40, 80])
    assert len(jobs) == 8
    fields = ("status", "bytes", "bpp", "recon_hash", "bitstream_path", "recon_path")
    rows = {}
    for name, ex in (("pool", ProcessPool(tmp_path / "pool", workers=2)),
                     ("ray", RayExecutor(tmp_path / "ray", workers=2))):
        try:
            got = list(ex.run(jobs))
        finally:
            ex.close()
        assert sorted(r.key for r in got) == sorted(j.key for j in jobs)
        rows[name] = {r.key: r for r in got}
    assert ray.is_initialized()                         # close() leaves a Ray it did not start running
    for key, pool_row in rows["pool"].items():
        ray_row = rows["ray"][key]
        assert pool_row.status == "ok" and pool_row.error is None and pool_row.bytes > 0
        assert {f: getattr(ray_row, f) for f in fields} == {f: getattr(pool_row, f) for f in fields}
        assert ray_row.encode_s > 0 and ray_row.decode_s > 0
        for rel in (pool_row.bitstream_path, pool_row.recon_path):
            assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "pool" / rel).read_bytes()
    artifacts = {p.relative_to(tmp_path / "pool") for p in (tmp_path / "pool").rglob("*") if p.is_file()}
    assert artifacts == {p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*") if p.is_file()}
    assert len(artifacts) == 16                         # 8 bitstreams, 8 distinct reconstructions


def test_a_worker_killed_mid_job_costs_that_job_only(ray_instance, codec_dir, tmp_path):
    folder = marked_images(tmp_path / "imgs", [None, (1, 2, 3), None])
    jobs = planned(folder, ["trick-png"], codec_paths=[str(codec_dir)])
    ex = RayExecutor(tmp_path / "out", workers=2, codec_paths=[str(codec_dir)])
    rows = list(ex.run(jobs))
    ex.close()
    assert sorted(r.key for r in rows) == sorted(j.key for j in jobs) and len(rows) == 6
    bad = [r for r in rows if r.status != "ok"]
    assert [(r.image, r.rate) for r in bad] == [("t1", 6)]
    assert bad[0].error == "the codec's worker process crashed (twice)" and bad[0].bitstream_path is None
    codec = make_codec("trick-png", [str(codec_dir)])
    for r in rows:
        if r.status == "ok":
            original = np.asarray(Image.open(r.image_path).convert("RGB"))
            assert (tmp_path / "out" / r.bitstream_path).read_bytes() == codec.encode(original, r.rate)
            assert pixel_sha256(load_rgb(tmp_path / "out" / r.recon_path)) == r.recon_hash


def test_verify_decode_runs_on_the_ray_workers_and_pixels_come_back(ray_instance, images, tmp_path):
    jobs = planned(images, ["jpeg"], rates=[50])
    ex = RayExecutor(tmp_path / "out", verify=True, keep_pixels=True)
    rows = list(ex.run(jobs))
    ex.close()
    assert len(rows) == 2 and all(r.status == "ok" and r.verified == 1 for r in rows)
    for r in rows:
        assert pixel_sha256(pixels(r)) == r.recon_hash == pixel_sha256(load_rgb(tmp_path / "out" / r.recon_path))


def test_close_from_another_thread_stops_a_run(ray_instance, codec_dir, tmp_path):
    folder = marked_images(tmp_path / "imgs", [None, (4, 5, 6)])      # t1 takes a minute per job
    jobs = planned(folder, ["trick-png"], codec_paths=[str(codec_dir)])
    ex = RayExecutor(tmp_path / "out", workers=2, codec_paths=[str(codec_dir)])
    rows, errors = [], []

    def consume():
        try:
            rows.extend(ex.run(jobs))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 30
    while len(rows) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    t = time.monotonic()
    ex.close()
    thread.join(timeout=10)
    assert not thread.is_alive() and not errors and time.monotonic() - t < 5
    assert sorted(r.image for r in rows) == ["t0", "t0"] and all(r.status == "ok" for r in rows)
    assert ray.is_initialized()                         # a Ray this executor did not start keeps running


def test_bench_run_with_ray_stores_what_the_local_run_stores_and_resumes(ray_instance, tmp_path):
    from bench.pipeline.run import RunOptions, run
    from bench.store import Store

    def stored(out):
        store = Store(out, create=False)
        try:
            jobs = {r["key"]: (r["bytes"], r["bpp"], r["recon_hash"], r["status"])
                    for r in store.db.execute("SELECT key, bytes, bpp, recon_hash, status FROM jobs")}
            values = {(r["key"], r["metric"]): r["value"] for r in store.db.execute("SELECT * FROM metrics")}
        finally:
            store.close()
        return jobs, values

    # 192x256: pixels above Ray's inline limit (100 KB) come back as views into its object store
    folder = write_images(tmp_path / "imgs", [(192, 256)] * 2)
    common = dict(dataset=str(folder), codecs=["jpeg", "webp"], rates=[30, 70], metrics=["psnr"], workers=2)
    local = run(RunOptions(out=tmp_path / "local", **common))
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = run(RunOptions(out=tmp_path / "ray", executor="ray", **common))
    # the driver owns the pixels it gets back (a view into Ray's store crashed the CLI run)
    assert not [w for w in caught if "not writable" in str(w.message)]
    assert local.done == first.done == 8 and first.failed == 0
    assert stored(tmp_path / "ray") == stored(tmp_path / "local")
    assert len(stored(tmp_path / "ray")[1]) == 8
    again = run(RunOptions(out=tmp_path / "ray", executor="ray", **common))    # resume: nothing left to do
    assert (again.skipped, again.done) == (8, 0)
