"""Executors: the process pool and the in-process device executor give the same rows; the
device executor loads a codec once per run and batches same-size images at one rate point;
every row records the run that wrote it."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from PIL import Image

from bench.codec import CODECS, make_codec
from bench.datasets import resolve_dataset
from bench.pipeline.executors import DeviceExecutor
from bench.pipeline.models import Models
from bench.pipeline.plan import plan_jobs
from bench.pipeline.run import RunOptions, run
from bench.store import Store

from .conftest import smooth_image

BATCH_CODEC = '''
import io
import numpy as np
from PIL import Image
from bench.codec import Codec, register_codec

@register_codec
class BatchPNG(Codec):
    """Lossless PNG with batch calls that log their sizes, and a load() that counts itself."""
    name = "batch-png"
    rate_param = "level"
    rate_range = (0, 9)
    default_rates = (1, 6)
    extension = "png"
    uses_device = True
    loads = []
    batches_seen = []

    def load(self, device):
        super().load(device)
        type(self).loads.append(device)

    def encode(self, image, rate, roi=None):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG", compress_level=int(rate))
        return buf.getvalue()

    def decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def encode_batch(self, images, rate, rois=None):
        type(self).batches_seen.append((len(images), images[0].shape[:2]))
        return [self.encode(im, rate) for im in images]
'''


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codecs")
    (folder / "batch_png.py").write_text(textwrap.dedent(BATCH_CODEC))
    return folder


@pytest.fixture
def mixed_sizes(tmp_path):
    """Three images of one size and two of another."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        h, w = (64, 96) if i < 3 else (80, 48)
        Image.fromarray(smooth_image(i, h, w)).save(folder / f"m{i}.png")
    return folder


def test_device_executor_batches_same_size_images_and_loads_once(codec_dir, mixed_sizes, tmp_path):
    models = Models("cpu", [str(codec_dir)])
    cls = CODECS.load("batch-png")
    cls.loads.clear()
    cls.batches_seen.clear()
    dataset = resolve_dataset(str(mixed_sizes))
    jobs = plan_jobs(dataset, {"batch-png": make_codec("batch-png")}, [1, 6], [])
    rows = list(DeviceExecutor(tmp_path / "out", models, batch_size=2).run(jobs))
    assert sorted(r.key for r in rows) == sorted(j.key for j in jobs) and all(r.status == "ok" for r in rows)
    assert cls.loads == ["cpu"]                                  # one model for the whole run
    # per rate point: the 64x96 images in a batch of 2 (the third alone), the 80x48 pair in one batch
    assert sorted(cls.batches_seen) == sorted([(2, (64, 96)), (2, (80, 48))] * 2)
    for r in rows:
        original = np.asarray(Image.open(r.image_path).convert("RGB"))
        assert (tmp_path / "out" / r.bitstream_path).read_bytes() == make_codec("batch-png").encode(original, r.rate)
    assert sorted(json.loads(r.detail or "{}").get("batch", 1) for r in rows) == [1, 1] + [2] * 8


def test_pool_and_device_executors_store_the_same_rows(codec_dir, mixed_sizes, tmp_path):
    fields = ("key", "bytes", "bpp", "recon_hash", "codec_spec", "status")
    stored = {}
    for workers in (0, 2):      # 0: the in-process device executor; 2: the process pool
        out = tmp_path / f"w{workers}"
        report = run(RunOptions(dataset=str(mixed_sizes), codecs=["batch-png", "jpeg"], rates=[], metrics=["psnr"],
                                out=out, workers=workers, codec_paths=[str(codec_dir)], batch_size=4))
        assert report.failed == 0 and report.done == 5 * 2 + 5 * 8
        frame = Store(out).frame()
        assert set(frame["run_id"]) == {report.run_id}           # every row names the run that wrote it
        assert frame["psnr"].notna().all()
        stored[workers] = frame[list(fields)].sort_values("key").reset_index(drop=True)
        runs = Store(out).runs()
        assert [(r["run_id"], r["jobs"], r["failed"]) for r in runs] == [(report.run_id, 50, 0)]
    assert stored[0].equals(stored[2])


def test_a_rerun_keeps_the_run_id_of_the_rows_it_reuses(mixed_sizes, tmp_path):
    opts = RunOptions(dataset=str(mixed_sizes), codecs=["jpeg"], rates=[50], metrics=["psnr"], out=tmp_path / "o",
                      workers=0)
    first = run(opts)
    second = run(RunOptions(**{**opts.__dict__, "rates": [50, 60]}))
    assert second.skipped == 5 and second.done == 5
    frame = Store(tmp_path / "o").frame()
    assert dict(frame.groupby("setting")["run_id"].agg(lambda s: set(s))) == {
        "quality=50": {first.run_id}, "quality=60": {second.run_id}}
