"""QP knobs of hevc and vvc: the knob is the I-slice QP the encoder reports, and fractional
QPs (what --target-bpp needs) give a rate between the neighbouring whole QPs."""

from __future__ import annotations

import importlib
import re
import subprocess

import numpy as np
import pytest

from bench.codec import CODECS, make_codec
from bench.image import load_rgb

from .conftest import kodak_or_skip


def plugin(name):
    CODECS.load_all()
    return importlib.import_module(f"bench._plugins.codecs.{name}")


@pytest.fixture(scope="module")
def crop():
    img = load_rgb(kodak_or_skip() / "kodim05.png")
    return np.ascontiguousarray(img[128:384, 192:576])          # 256x384


def bpp(data, img):
    return 8 * len(data) / (img.shape[0] * img.shape[1])


def test_dither_sets_grow_by_inclusion_and_spread_over_the_picture():
    m = plugin("hevc")
    h, w = 512, 768                                             # 16 x 24 groups of 32x32
    maps = [m.fractional_qp_offsets(h, w, f) for f in np.linspace(0, 1, 41)]
    assert maps[0].shape == (32, 48) and not maps[0].any() and maps[-1].all()
    for small, large in zip(maps, maps[1:]):
        assert (large >= small).all()                           # nested: bpp can only fall
    half = maps[20]
    assert half.sum() == 32 * 48 // 2                           # round(0.5 * 384) groups of 2x2 blocks
    assert half[:16].sum() == half[16:].sum()                   # top and bottom halves share them
    groups = half[::2, ::2]
    assert groups.sum() == 192 and set(np.unique(half.reshape(16, 2, 24, 2).std(axis=(1, 3)))) == {0.0}


def x265_mean_qp(codec, img, rate, tmp_path):
    """x265's own per-frame CSV log: the average QP it coded the picture with."""
    frame, params = codec.prepare(img, rate)
    csv = tmp_path / f"x265-{rate}.csv"
    data = codec.encode_frame(frame, params + [f"csv={csv}", "csv-log-level=2"])
    assert data == codec.encode(img, rate)                      # the adapter codes exactly this
    header, row = csv.read_text().splitlines()[:2]
    return float(row.split(",")[[c.strip() for c in header.split(",")].index("QP")])


@pytest.mark.parametrize("rate, mean_qp", [(32, 32.0), (32.5, 32.5), (32.25, 32.25), (37, 37.0)])
def test_x265_codes_the_knob_as_the_i_slice_qp(rate, mean_qp, crop, tmp_path):
    # 8 x 12 = 96 groups: 0.25 and 0.5 are whole numbers of groups
    assert x265_mean_qp(make_codec("hevc"), crop, rate, tmp_path) == pytest.approx(mean_qp, abs=0.01)


def test_hevc_bpp_falls_smoothly_through_fractional_qps(crop):
    codec = make_codec("hevc")
    rates = [33, 33.25, 33.5, 33.75, 34]
    sizes = [bpp(codec.encode(crop, r), crop) for r in rates]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes), sizes
    steps = -np.diff(np.log(sizes))
    assert steps.max() < 0.6 * steps.sum(), sizes                # no single jump carries the QP step


def test_vvenc_codes_the_knob_as_the_i_slice_qp(crop, tmp_path):
    codec = make_codec("vvc:preset=faster")
    img = np.ascontiguousarray(crop[:128, :128])
    for rate, slice_qp in ((32, 32), (32.4, 32), (32.6, 33)):
        cmd = codec.command(128, 128, rate)
        cmd[cmd.index("-loglevel") + 1] = "verbose"             # VVenC prints each picture's QP ...
        cmd[-1] = str(tmp_path / f"{rate}.266")                 # ... on stdout, so the stream goes to a file
        run = subprocess.run(cmd, input=img.tobytes(), capture_output=True)
        log = (run.stdout + run.stderr).decode()
        assert re.findall(r"I-SLICE, QP (\d+)", log) == [str(slice_qp)], log[-2000:]


def test_vvc_fractional_qp_moves_lambda_within_a_slice_qp(crop):
    codec = make_codec("vvc:preset=faster")
    img = np.ascontiguousarray(crop[:128, :256])
    sizes = [bpp(codec.encode(img, r), img) for r in (32, 32.2, 32.4)]
    assert sizes[0] > sizes[1] > sizes[2], sizes
    assert "LambdaModifierI" not in " ".join(codec.command(64, 64, 32))
