"""Pillow adapters: round trips, bpp from real byte counts, chroma subsampling, rate monotonicity."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bench.codec import CODECS, make_codec
from bench.image import load_rgb
from bench.pipeline.models import Models
from bench.pipeline.worker import execute
from bench.store import JobRow

from .conftest import kodak_or_skip


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / mse)


@pytest.fixture(scope="module")
def kodim(request):
    return load_rgb(kodak_or_skip() / "kodim23.png")


@pytest.mark.parametrize("name", ["jpeg", "jpeg-444", "webp", "avif"])
def test_round_trip_and_psnr_rises_with_quality(name, kodim):
    codec = make_codec(name)
    rates = [q for q in (10, 50, 90) if codec.rate_range[0] <= q <= codec.rate_range[1]]
    sizes, psnrs = [], []
    for q in rates:
        data = codec.encode(kodim, q)
        recon = codec.decode(data)
        assert recon.shape == kodim.shape and recon.dtype == np.uint8
        sizes.append(len(data))
        psnrs.append(psnr(kodim, recon))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert psnrs == sorted(psnrs)
    assert 24 < psnrs[0] < psnrs[-1] < 50


def test_bitstreams_are_complete_files_readable_by_pillow(kodim):
    for name, fmt in [("jpeg", "JPEG"), ("webp", "WEBP"), ("avif", "AVIF")]:
        data = make_codec(name).encode(kodim, 50)
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == fmt and img.size == (kodim.shape[1], kodim.shape[0])


def test_jpeg_variants_have_the_declared_chroma_subsampling(kodim):
    # Pillow exposes the SOF sampling factors per component: (id, h, v, quant table)
    def factors(name):
        with Image.open(io.BytesIO(make_codec(name).encode(kodim, 80))) as img:
            return [(h, v) for _, h, v, _ in img.layer]
    assert factors("jpeg") == [(2, 2), (1, 1), (1, 1)]      # 4:2:0
    assert factors("jpeg-444") == [(1, 1), (1, 1), (1, 1)]  # 4:4:4


def test_runner_bpp_is_eight_times_file_bytes_over_pixels(tmp_path, kodim):
    path = kodak_or_skip() / "kodim23.png"
    from bench.image import pixel_sha256
    job = JobRow(key="k", dataset="kodak", image="kodim23", image_hash=pixel_sha256(kodim), image_path=str(path),
                 height=kodim.shape[0], width=kodim.shape[1], codec="webp", codec_spec="webp", config_hash="c",
                 rate_param="quality", rate=40, target_bpp=None, setting="quality=40")
    row = execute(Models(), job, tmp_path)
    assert row.status == "ok", row.error
    on_disk = (tmp_path / row.bitstream_path).stat().st_size
    assert row.bytes == on_disk == len(make_codec("webp").encode(kodim, 40))
    assert row.bpp == pytest.approx(8 * on_disk / (768 * 512), abs=0)
    recon = load_rgb(tmp_path / row.recon_path)
    assert np.array_equal(recon, make_codec("webp").decode((tmp_path / row.bitstream_path).read_bytes()))


def test_registry_lists_the_pillow_codecs():
    codecs = CODECS.load_all()
    for name in ("jpeg", "jpeg-444", "webp", "avif"):
        assert name in codecs and codecs[name].unavailable() is None


@pytest.mark.parametrize("quality", [1, 5, 30, 49, 50, 75, 95, 100])
def test_jpeg_integer_quality_is_byte_identical_to_libjpeg_quality(quality, kodim):
    buf = io.BytesIO()
    Image.fromarray(kodim).save(buf, format="JPEG", quality=quality, subsampling="4:2:0", optimize=True)
    assert make_codec("jpeg").encode(kodim, quality) == buf.getvalue()


def test_jpeg_fractional_quality_lies_between_its_integer_neighbours(kodim):
    codec = make_codec("jpeg")
    sizes = [len(codec.encode(kodim, q)) for q in (7, 7.5, 8)]
    assert sizes[0] < sizes[1] < sizes[2]
