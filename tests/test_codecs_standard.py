"""Standard codec adapters (JPEG XL, JPEG 2000, HEVC, VVC): round trips on Kodak crops, real byte
counts, PSNR rising with rate, complete self-describing bitstreams, declared chroma formats.

The full 24-image sweep is scripts/check_codecs_kodak.py; these use 256x256 crops of two images.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from bench.codec import CODECS, make_codec
from bench.errors import CodecError
from bench.image import load_rgb

from .conftest import kodak_or_skip

# per codec: three knob values from low to high rate
RATES = {
    "jpegxl": (12.0, 4.0, 1.0),
    "jpeg2000": (0.125, 0.5, 2.0),
    "hevc": (42, 32, 22),
    "hevc-444": (42, 32, 22),
    "hevc-roi": (42, 32, 22),
    "vvc": (42, 32, 22),
}
FAST = ["jpegxl", "jpeg2000", "hevc", "hevc-444", "hevc-roi"]


def psnr(a, b):
    return 10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def crop(name: str, size: int = 256) -> np.ndarray:
    img = load_rgb(kodak_or_skip() / name)
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[(h - size) // 2:(h + size) // 2, (w - size) // 2:(w + size) // 2])


@pytest.fixture(scope="module")
def crops():
    return [crop("kodim04.png"), crop("kodim19.png")]


def check_sweep(spec: str, images, rates):
    codec = make_codec(spec)
    fresh = make_codec(spec)            # decode with another instance: nothing carried over but bytes
    for img in images:
        bpps, psnrs = [], []
        for rate in rates:
            data = codec.encode(img, rate)
            recon = fresh.decode(bytes(data))
            assert recon.shape == img.shape and recon.dtype == np.uint8
            bpps.append(8 * len(data) / (img.shape[0] * img.shape[1]))
            psnrs.append(psnr(img, recon))
        assert bpps == sorted(bpps) and len(set(bpps)) == len(bpps), (spec, bpps)
        assert psnrs == sorted(psnrs) and psnrs[-1] - psnrs[0] > 5, (spec, psnrs)
        assert 20 < psnrs[0] and psnrs[-1] < 55, (spec, psnrs)


@pytest.mark.parametrize("name", FAST)
def test_round_trip_bpp_and_psnr_rise_with_rate(name, crops):
    check_sweep(name, crops, RATES[name])


@pytest.mark.slow
def test_vvc_default_preset_round_trip_and_psnr_rise_with_rate(crops):
    check_sweep("vvc", crops, RATES["vvc"])


def test_vvc_fast_preset_round_trip(crops):
    check_sweep("vvc:preset=faster", [crops[0][:128, :128].copy()], (42, 27))


def test_adapters_are_registered_with_their_knobs():
    codecs = CODECS.load_all()
    expect = {"jpegxl": ("distance", False), "jpeg2000": ("bpp", True), "hevc": ("qp", False),
              "hevc-444": ("qp", False), "hevc-roi": ("qp", False), "vvc": ("qp", False),
              "vtm": ("qp", False), "bpg": ("qp", False)}
    for name, (knob, rises) in expect.items():
        cls = codecs[name]
        assert (cls.rate_param, cls.rate_increases_bpp) == (knob, rises)
        lo, hi = cls.rate_range
        assert all(lo <= r <= hi for r in cls.default_rates)
    assert codecs["hevc-roi"].supports_roi and not codecs["hevc"].supports_roi


def test_bitstreams_are_complete_standard_streams(crops):
    img = crops[0]
    hevc = make_codec("hevc").encode(img, 32)
    assert hevc[:6] == b"\x00\x00\x00\x01\x40\x01"             # start code + VPS NAL header
    assert b"x265 (build" not in hevc                          # no encoder-info SEI counted as image bytes
    assert make_codec("jpegxl").encode(img, 2.0)[:2] == b"\xff\x0a"          # bare JXL codestream
    assert make_codec("jpeg2000").encode(img, 0.5)[:4] == b"\xff\x4f\xff\x51"  # J2K SOC + SIZ


def test_jpeg2000_rate_knob_is_the_bpp_openjpeg_lands_on(crops):
    codec = make_codec("jpeg2000")
    for target in (0.25, 1.0):
        data = codec.encode(crops[1], target)
        bpp = 8 * len(data) / (256 * 256)
        assert 0.9 * target < bpp <= target * 1.01


def test_hevc_variants_code_the_declared_chroma_format(crops):
    CODECS.load_all()
    decode_annexb = importlib.import_module("bench._plugins.codecs._video").decode_annexb
    img = crops[0][:64, :64].copy()
    assert decode_annexb(make_codec("hevc").encode(img, 30), "hevc").format.name == "yuv420p"
    assert decode_annexb(make_codec("hevc-444").encode(img, 30), "hevc").format.name == "yuv444p"
    assert decode_annexb(make_codec("vvc:preset=faster").encode(img, 30), "vvc").format.name == "yuv420p10le"


def test_444_keeps_colour_detail_that_420_loses():
    # one-pixel red/blue stripes: pure chroma detail that 4:2:0 cannot represent
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, ::2, 0] = 220
    img[:, 1::2, 2] = 220
    p420 = psnr(img, make_codec("hevc").decode(make_codec("hevc").encode(img, 12)))
    p444 = psnr(img, make_codec("hevc-444").decode(make_codec("hevc-444").encode(img, 12)))
    assert p444 > p420 + 10


def test_odd_sizes(crops):
    img = crops[0][:33, :47].copy()
    for name, rate in [("hevc-444", 30), ("jpegxl", 2.0), ("jpeg2000", 1.0)]:
        codec = make_codec(name)
        assert codec.decode(codec.encode(img, rate)).shape == img.shape
    with pytest.raises(CodecError, match="even width and height"):
        make_codec("hevc").encode(img, 30)


def test_versions_name_the_libraries_that_shape_the_bitstream():
    assert "build" in make_codec("hevc").versions()["x265"]
    assert make_codec("jpegxl").versions()["libjxl"].startswith("libjxl")
    assert make_codec("jpeg2000").versions()["openjpeg"][0].isdigit()
    v = make_codec("vvc").versions()
    assert v["vvenc"] != "unknown" and v["ffmpeg"] != "unknown"


@pytest.mark.parametrize("name", ["hevc", "vvc"])
def test_a_corrupt_stream_is_a_codec_error_not_a_crash(name):
    with pytest.raises(CodecError):
        make_codec(name).decode(b"\x00\x00\x00\x01" + bytes(range(256)) * 4)
