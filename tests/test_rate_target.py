"""--target-bpp: bisection on the knob, reachability at the range ends, monotonicity check.

Synthetic codecs have a known bytes(knob) law, so the right answer is exact; the real-codec
tests check the achieved bpp against the bitstream that comes back.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.codec import Codec, make_codec
from bench.codec.rate_target import encode_at_target
from bench.errors import BenchError
from bench.image import load_rgb

from .conftest import kodak_or_skip

IMAGE = np.zeros((10, 10, 3), np.uint8)       # 100 pixels: bpp = 0.08 * bytes


class Synthetic(Codec):
    """A codec whose bitstream length is law(knob) bytes; counts its encodes."""
    name = "synthetic"
    rate_param = "q"
    default_rates = (50,)
    rate_range = (0, 100)

    def __init__(self, law, **kw):
        super().__init__()
        self.law, self.calls = law, []
        for k, v in kw.items():
            setattr(self, k, v)

    def encode(self, image, rate, roi=None):
        lo, hi = self.rate_range
        assert lo <= rate <= hi and (not self.rate_is_integer or isinstance(rate, int))
        self.calls.append(rate)
        return b"x" * int(self.law(rate))

    def decode(self, data):
        return IMAGE


def bpp(n_bytes):
    return 8 * n_bytes / 100


def test_integer_knob_hits_the_exact_value_in_log2_range_encodes():
    codec = Synthetic(lambda q: 10 + 3 * q)
    data, knob, d = encode_at_target(codec, IMAGE, bpp(10 + 3 * 37))
    assert knob == 37 and len(data) == 10 + 3 * 37
    assert d["achieved_bpp"] == bpp(121) and d["rel_error"] == 0
    assert d["reachable"] and d["within_tolerance"] and d["monotonic"]
    assert d["iterations"] == len(codec.calls) <= math.ceil(math.log2(100)) + 1
    assert [k for k, _ in d["probes"]] == sorted(set(codec.calls))


def test_qp_like_knob_is_searched_downwards():
    codec = Synthetic(lambda qp: round(4000 * 2 ** (-qp / 6)), rate_range=(0, 51), rate_increases_bpp=False)
    target = bpp(round(4000 * 2 ** (-30 / 6)))
    _, knob, d = encode_at_target(codec, IMAGE, target)
    assert knob == 30 and d["rel_error"] == 0 and d["monotonic"]
    assert 0 not in codec.calls            # QP 0 (the most expensive encode) never needed


def test_closest_of_two_neighbouring_steps_wins_and_coarse_steps_are_named():
    codec = Synthetic(lambda q: 100 * (q + 1))        # 8 bpp per step
    _, knob, d = encode_at_target(codec, IMAGE, bpp(100 * 10.3))
    assert knob == 9                                   # 1000 bytes is closer to 1030 than 1100
    assert d["reachable"] and d["within_tolerance"]
    _, knob, d = encode_at_target(Synthetic(lambda q: 100 * (q + 1)), IMAGE, bpp(100 * 1.5))
    assert knob in (0, 1) and d["reachable"] and not d["within_tolerance"]
    assert "too coarse" in d["note"] and "q=0 gives 8 bpp" in d["note"] and "q=1 gives 16 bpp" in d["note"]


@pytest.mark.parametrize("target, end, word", [(0.5, 0, "below"), (500.0, 100, "above")])
def test_unreachable_targets_say_so_and_return_the_range_end(target, end, word):
    codec = Synthetic(lambda q: 10 + q)               # 0.8 .. 8.8 bpp
    _, knob, d = encode_at_target(codec, IMAGE, target)
    assert knob == end and not d["reachable"]
    assert word in d["reason"] and f"q={end}" in d["reason"]


def test_non_monotonic_knob_is_flagged_and_closest_probe_kept():
    law = lambda q: 5 if q == 75 else q               # a dip at the second probe
    _, knob, d = encode_at_target(Synthetic(law), IMAGE, bpp(80))
    assert not d["monotonic"] and "not monotonic" in d["note"]
    assert knob == 80 and d["rel_error"] == 0


def test_float_knob_is_bisected_geometrically_to_one_percent():
    codec = Synthetic(lambda d: 20000 / d, rate_range=(0.1, 25.0), rate_is_integer=False,
                      rate_increases_bpp=False)
    _, knob, d = encode_at_target(codec, IMAGE, bpp(3000))
    assert abs(d["rel_error"]) <= 0.01 and d["reachable"]
    assert knob == pytest.approx(20000 / 3000, rel=0.011)
    assert d["iterations"] <= 14 and all(0.1 <= c <= 25.0 for c in codec.calls)


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf")])
def test_bad_targets_are_user_errors(bad):
    with pytest.raises(BenchError, match="target-bpp"):
        encode_at_target(Synthetic(lambda q: q), IMAGE, bad)


@pytest.fixture(scope="module")
def kodim():
    return load_rgb(kodak_or_skip() / "kodim23.png")


@pytest.mark.parametrize("spec, target", [("jpeg", 0.5), ("webp", 0.2), ("jpegxl", 0.3), ("jpeg2000", 0.15)])
def test_real_codecs_land_within_5_percent(spec, target, kodim):
    codec = make_codec(spec)
    data, knob, d = encode_at_target(codec, kodim, target)
    h, w = kodim.shape[:2]
    assert d["achieved_bpp"] == 8 * len(data) / (h * w)
    assert abs(d["achieved_bpp"] - target) <= 0.05 * target, d
    assert d["reachable"] and d["monotonic"]
    assert codec.decode(data).shape == kodim.shape
    assert codec.rate_range[0] <= knob <= codec.rate_range[1]


@pytest.mark.parametrize("spec, target", [("hevc", 0.25), ("hevc", 0.1), ("vvc:preset=faster", 0.25)])
def test_qp_codecs_land_within_5_percent_through_fractional_qp(spec, target, kodim):
    codec = make_codec(spec)
    data, qp, d = encode_at_target(codec, kodim, target)
    assert abs(d["rel_error"]) <= 0.05 and d["reachable"] and d["monotonic"], d
    assert qp != int(qp) and d["iterations"] <= 10, d       # a fractional QP, found in few encodes
    probes = dict(d["probes"])
    whole = [q for q in probes if q == int(q)]
    assert not whole or min(abs(probes[q] - target) for q in whole) >= abs(d["achieved_bpp"] - target)


def test_fewer_encodes_than_plain_bisection_on_a_log_linear_knob():
    law = lambda qp: round(40000 * 2 ** (-qp / 6))     # ~11 % per QP, as x265 and VVenC
    codec = Synthetic(law, rate_range=(0, 51), rate_is_integer=False, rate_increases_bpp=False)
    _, knob, d = encode_at_target(codec, IMAGE, bpp(law(33.37)))
    assert abs(d["rel_error"]) <= 0.01 and d["monotonic"]
    assert d["iterations"] <= 5, d["probes"]               # halving alone needs 8 here


def test_a_step_in_bpp_still_ends_at_the_nearer_side():
    # lambda-domain VVC: bpp steps down ~6 % where the slice QP changes, at x.5
    law = lambda qp: round(40000 * 2 ** (-qp / 6) * (0.94 if qp % 1 >= 0.5 else 1.0))
    codec = Synthetic(law, rate_range=(0, 51), rate_is_integer=False, rate_increases_bpp=False)
    target = 0.97 * law(32.49)                             # inside the gap: 3 % from either side
    _, knob, d = encode_at_target(codec, IMAGE, bpp(target))
    assert abs(d["rel_error"]) <= 0.035 and d["reachable"], d
    assert 32.4 <= knob <= 32.6 and d["iterations"] <= 14


def test_a_steep_end_of_the_range_is_searched_finer_than_a_thousandth():
    # libwebp: bpp climbs ~30 % between quality 0 and 0.1; the target sits inside that sliver
    law = lambda q: round(1000 + 5000 * math.sqrt(q / 100))
    codec = Synthetic(law, rate_is_integer=False)
    _, knob, d = encode_at_target(codec, IMAGE, bpp(1080))
    assert 0 < knob < 0.1 and abs(d["rel_error"]) <= 0.05 and d["reachable"], d
