"""The pipelined runner: metrics start on finished reconstructions while codecs still work,
and store exactly what the staged order stores; the batch-size rule; the worker's cache of
decoded originals; `--device auto` without importing torch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.pipeline import worker
from bench.pipeline.batching import MAX_BATCH, batch_from_memory, metric_batch_size
from bench.pipeline.run import RunOptions, run
from bench.store import Store

from .conftest import write_images


def _stored(out):
    store = Store(out, create=False)
    try:
        jobs = {r["key"]: (r["bytes"], r["bpp"], r["recon_hash"], r["created"])
                for r in store.db.execute("SELECT key, bytes, bpp, recon_hash, created FROM jobs WHERE status='ok'")}
        metrics = {(r["key"], r["metric"]): (r["value"], r["created"])
                   for r in store.db.execute("SELECT key, metric, value, created FROM metrics")}
    finally:
        store.close()
    return jobs, metrics


def test_pipelined_and_staged_runs_store_the_same_rows_but_metrics_overlap_codecs(tmp_path):
    data = write_images(tmp_path / "imgs", [(96, 128)] * 5 + [(64, 80)])
    outs = {}
    for staged in (False, True):
        outs[staged] = tmp_path / f"out-{staged}"
        report = run(RunOptions(dataset=str(data), codecs=["jpeg", "webp"], rates=[20, 60, 90],
                                metrics=["psnr", "ms-ssim"], out=outs[staged], workers=1, staged=staged))
        assert report.done == 36 and report.failed == 0
    (jp, mp), (js, ms) = _stored(outs[False]), _stored(outs[True])
    assert {k: v[:3] for k, v in jp.items()} == {k: v[:3] for k, v in js.items()}
    psnr = {k: v[0] for k, v in mp.items() if k[1] == "psnr"}
    assert len(psnr) == 36 and psnr == {k: v[0] for k, v in ms.items() if k[1] == "psnr"}
    # 64x80 is below MS-SSIM's minimum side: the same error row in both orders
    assert {k: v[0] for k, v in mp.items()} == {k: v[0] for k, v in ms.items()}
    # pipelined: the first metric value is stored before the last codec row; staged: after all of them
    assert min(v[1] for v in mp.values()) < max(v[3] for v in jp.values())
    assert min(v[1] for v in ms.values()) > max(v[3] for v in js.values())


def test_batch_size_rule():
    # 200 B/pixel at 512x768 is 78.6 MB per image: half of 8 GiB holds 54 of them
    assert batch_from_memory(200.0, 512, 768, 8 << 30) == 54
    assert batch_from_memory(200.0, 512, 768, 100 << 30) == MAX_BATCH
    assert batch_from_memory(200.0, 6000, 4000, 1 << 30) == 1      # never 0
    assert metric_batch_size([], 512, 768, "cpu") == 1
    assert metric_batch_size([], 512, 768, "cpu", requested=5) == 5


def test_metrics_in_this_process_use_the_cores_the_codec_workers_leave(monkeypatch):
    import torch

    from bench.pipeline import run as run_mod

    monkeypatch.setattr(run_mod, "usable_cpus", lambda: 8)
    before = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        with run_mod.cores_left_to_metrics(busy=6):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 8
        with run_mod.cores_left_to_metrics(busy=8):     # all cores busy: still one thread
            assert torch.get_num_threads() == 1
        with run_mod.cores_left_to_metrics(busy=0):     # codecs in this process: untouched
            assert torch.get_num_threads() == 8
    finally:
        torch.set_num_threads(before)


def test_a_pool_worker_gets_its_share_of_the_cores_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    worker.init_worker([], "cpu", threads=3)
    assert os.environ["OMP_NUM_THREADS"] == "3"
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    worker.init_worker([], "cpu", threads=3)
    assert os.environ["OMP_NUM_THREADS"] == "5"


def test_worker_decodes_an_original_once_and_notices_a_changed_file(tmp_path, monkeypatch):
    from bench.codec import make_codec
    from bench.datasets import resolve_dataset
    from bench.pipeline.plan import plan_jobs

    data = write_images(tmp_path / "imgs", [(48, 64)] * 2)
    jobs = plan_jobs(resolve_dataset(str(data)), {"jpeg": make_codec("jpeg")}, [10, 50, 90], [])
    calls = []
    real = worker.load_rgb
    monkeypatch.setattr(worker, "load_rgb", lambda p: calls.append(p) or real(p))
    worker._ORIGINALS.clear()
    images = [worker.original(j) for j in jobs]
    assert len(calls) == 2                      # 6 jobs, 2 images
    assert all(np.array_equal(a, real(j.image_path)) for a, j in zip(images, jobs))
    images[0][:] = 0                            # a codec editing its input does not touch the cache
    assert worker.original(jobs[0]).any()
    path = jobs[0].image_path
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(path)
    os.utime(path, ns=(1, 1))                   # a different file version, whatever the clock says
    with pytest.raises(BenchError, match="changed since the run was planned"):
        worker.original(jobs[0])


def test_device_auto_needs_no_torch_without_a_gpu():
    code = ("import sys; from bench.pipeline.models import resolve_device; "
            "print(resolve_device('auto'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, check=True).stdout.split()
    assert out == ["cpu", "False"]


KILLER_CODEC = '''
import io, os, signal
import numpy as np
from PIL import Image
from bench.codec import Codec, register_codec

@register_codec
class KillerPNG(Codec):
    """Lossless PNG whose process dies on the image whose top-left pixel is (1, 2, 3)."""
    name = "killer-png"
    rate_param = "level"
    rate_range = (0, 9)
    default_rates = (1, 6)
    extension = "png"

    def encode(self, image, rate, roi=None):
        if tuple(image[0, 0]) == (1, 2, 3):
            os.kill(os.getpid(), signal.SIGKILL)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG", compress_level=int(rate))
        return buf.getvalue()

    def decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
'''


def test_a_worker_killed_mid_job_costs_the_local_pool_that_job_only(tmp_path):
    """Several jobs are in flight when a worker dies; only the one that killed it fails."""
    from bench.codec import make_codec
    from bench.datasets import resolve_dataset
    from bench.pipeline.executors import ProcessPool
    from bench.pipeline.plan import plan_jobs

    (tmp_path / "codecs").mkdir()
    (tmp_path / "codecs" / "killer_png.py").write_text(KILLER_CODEC)
    folder = write_images(tmp_path / "imgs", [(40, 56)] * 5)
    img = np.asarray(Image.open(folder / "img2.png")).copy()
    img[0, 0] = (1, 2, 3)
    Image.fromarray(img).save(folder / "img2.png")
    paths = [str(tmp_path / "codecs")]
    jobs = plan_jobs(resolve_dataset(str(folder)), {"killer-png": make_codec("killer-png", paths)}, [], [])
    pool = ProcessPool(tmp_path / "out", workers=2, codec_paths=paths)
    rows = list(pool.run(jobs))
    pool.close()
    assert sorted(r.key for r in rows) == sorted(j.key for j in jobs)        # none dropped
    bad = sorted((r.image, r.rate) for r in rows if r.status != "ok")
    assert bad == [("img2", 1), ("img2", 6)]
    assert all(r.error == "the codec's worker process crashed (twice)" for r in rows if r.status != "ok")
