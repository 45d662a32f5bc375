"""hevc-roi: the ROI map becomes real per-block QP offsets, and they move bits into the ROI."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from bench.codec import CODECS, make_codec
from bench.codec.rate_target import encode_at_target
from bench.image import load_rgb

from .conftest import kodak_or_skip


def hevc_module():
    CODECS.load_all()
    return importlib.import_module("bench._plugins.codecs.hevc")


def masked_psnr(a, b, mask):
    err = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    return 10 * np.log10(255 ** 2 / err[mask].mean())


def central_box(h, w):
    roi = np.zeros((h, w), np.float32)
    roi[h // 4:3 * h // 4, w // 4:3 * w // 4] = 1.0
    return roi


def offset_map(regions, h, w):
    out = np.zeros((h, w), int)
    cover = np.zeros((h, w), int)
    for x, y, rw, rh, off in regions:
        out[y:y + rh, x:x + rw] = off
        cover[y:y + rh, x:x + rw] += 1
    assert cover.max() <= 1, "regions overlap"
    return out


def regions_of(roi, roi_qp, background_qp):
    m = hevc_module()
    return m.offset_rectangles(m.roi_block_offsets(roi, roi_qp, background_qp), *roi.shape)


def test_central_box_becomes_one_roi_rectangle_and_four_background_ones():
    regions = regions_of(central_box(512, 768), roi_qp=-6, background_qp=6)
    assert (192, 128, 384, 256, -6) in regions          # the box is block-aligned: exactly one rectangle
    assert len(regions) == 5
    offsets = offset_map(regions, 512, 768)
    assert (offsets[128:384, 192:576] == -6).all()
    assert (offsets == 6).sum() == 512 * 768 - 256 * 384


def test_graded_and_unaligned_maps_interpolate_per_block():
    roi = np.zeros((40, 40), np.float32)
    roi[:, :16] = 0.5                                   # half importance: offset halfway
    roi[:8, 16:] = 1.0                                  # covers half of the first block row's 16 lines
    offsets = offset_map(regions_of(roi, roi_qp=-8, background_qp=4), 40, 40)
    assert (offsets[:, :16] == -2).all()                # 4 + (-8 - 4) * 0.5
    assert (offsets[:16, 16:] == -2).all()              # mean importance 0.5 over the 16x16 block
    assert (offsets[16:, 16:] == 4).all()               # last partial block row (40 = 2*16 + 8) included
    assert regions_of(np.zeros((40, 40), np.float32), -6, 0) == []   # nothing to signal


@pytest.fixture(scope="module")
def kodim():
    return load_rgb(kodak_or_skip() / "kodim15.png")


def test_roi_offsets_move_bits_into_the_roi_at_the_same_qp(kodim):
    img = np.ascontiguousarray(kodim[128:384, 192:576])          # the central 256x384 (face)
    roi = central_box(*img.shape[:2])
    inside = roi > 0.5
    codec = make_codec("hevc-roi")
    plain = codec.decode(codec.encode(img, 32))
    steered = codec.decode(codec.encode(img, 32, roi=roi))
    assert masked_psnr(img, steered, inside) > masked_psnr(img, plain, inside) + 2
    assert masked_psnr(img, steered, ~inside) < masked_psnr(img, plain, ~inside) - 1


def test_roi_psnr_rises_and_background_does_not_vs_plain_hevc_at_matched_bpp(kodim):
    h, w = kodim.shape[:2]
    roi = central_box(h, w)
    inside = roi > 0.5
    hevc = make_codec("hevc")
    base = hevc.encode(kodim, 32)
    base_bpp = 8 * len(base) / (h * w)
    base_rec = hevc.decode(base)
    data, _, detail = encode_at_target(make_codec("hevc-roi"), kodim, base_bpp, roi=roi)
    assert abs(detail["rel_error"]) < 0.02, detail        # matched total rate (fractional QP)
    rec = make_codec("hevc-roi").decode(data)
    roi_gain = masked_psnr(kodim, rec, inside) - masked_psnr(kodim, base_rec, inside)
    bg_gain = masked_psnr(kodim, rec, ~inside) - masked_psnr(kodim, base_rec, ~inside)
    assert roi_gain > 1.5, (roi_gain, bg_gain, detail)
    assert bg_gain <= 0, (roi_gain, bg_gain, detail)


def test_without_a_mask_hevc_roi_is_plain_hevc(kodim):
    img = np.ascontiguousarray(kodim[:128, :192])
    for qp in (32, 32.5):
        assert make_codec("hevc-roi").encode(img, qp) == make_codec("hevc").encode(img, qp)
