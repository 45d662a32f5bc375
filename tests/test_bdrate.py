"""BD-rate / BD-metric math against published and independently computed values."""

import math

import numpy as np
import pytest

from bench.analysis.bdrate import METHODS, bd_metric, bd_rate
from bench.errors import BenchError

# VCEG-M33 (Bjøntegaard 2001) example data: rate in kbit/s, PSNR in dB.
ANCHOR = ([90.33, 181.03, 332.99, 547.79], [27.95, 31.17, 34.44, 38.11])
TEST = ([127.1719, 186.14, 307.2924, 481.5588], [29.9286, 32.4165, 34.7013, 37.4561])


def test_vceg_m33_cubic_reference_values():
    # The values given with the VCEG-M33 example data (6 decimals).
    assert round(bd_metric(*ANCHOR, *TEST, method="cubic").value, 6) == 0.800713
    assert round(bd_rate(*ANCHOR, *TEST, method="cubic").value, 6) == -13.261773


@pytest.mark.parametrize("method, rate, psnr", [
    # Output of the FAU-LMS `bjontegaard` package 1.3.0 (bd_rate / bd_psnr, same method name)
    # on the VCEG-M33 data, run once while writing this test: an independent implementation.
    ("pchip", -13.292524, 0.809132),
    ("akima", -13.343473, 0.807638),
    ("cubic", -13.261773, 0.800713),
])
def test_matches_independent_implementation(method, rate, psnr):
    assert round(bd_rate(*ANCHOR, *TEST, method=method).value, 6) == rate
    assert round(bd_metric(*ANCHOR, *TEST, method=method).value, 6) == psnr


def test_vceg_overlap_is_low():
    # bjontegaard 1.3.0 warns "Insufficient curve overlap: '74.09'" for BD-rate on this data.
    r = bd_rate(*ANCHOR, *TEST)
    assert round(r.overlap * 100, 2) == 74.09
    assert r.low_overlap


@pytest.mark.parametrize("method", list(METHODS))
def test_curve_against_itself_is_zero(method):
    assert bd_rate(*ANCHOR, *ANCHOR, method=method).value == pytest.approx(0.0, abs=1e-12)
    assert bd_metric(*ANCHOR, *ANCHOR, method=method).value == pytest.approx(0.0, abs=1e-12)
    assert bd_rate(*ANCHOR, *ANCHOR, method=method).overlap == 1.0


@pytest.mark.parametrize("method", list(METHODS))
def test_negating_the_metric_leaves_bd_rate_unchanged(method):
    ra, qa = ANCHOR
    rt, qt = TEST
    plain = bd_rate(ra, qa, rt, qt, method=method).value
    negated = bd_rate(ra, -np.array(qa), rt, -np.array(qt), higher_is_better=False, method=method).value
    assert negated == pytest.approx(plain, rel=1e-12)
    # BD-metric stays in the metric's own units: the negated metric's difference flips sign.
    m = bd_metric(ra, qa, rt, qt, method=method).value
    m_neg = bd_metric(ra, -np.array(qa), rt, -np.array(qt), higher_is_better=False, method=method).value
    assert m_neg == pytest.approx(-m, rel=1e-12)


@pytest.mark.parametrize("method", list(METHODS))
def test_half_the_bits_at_equal_quality_is_minus_50_percent(method):
    ra, qa = ANCHOR
    r = bd_rate(ra, qa, np.array(ra) / 2, qa, method=method)
    assert r.value == pytest.approx(-50.0, abs=1e-9)
    # and +1 dB at every rate is a BD-PSNR of exactly 1
    assert bd_metric(ra, qa, ra, np.array(qa) + 1.0, method=method).value == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("method", list(METHODS))
def test_rate_unit_does_not_matter(method):
    ra, qa = ANCHOR
    rt, qt = TEST
    scaled = bd_rate(np.array(ra) * 8 / 1e3, qa, np.array(rt) * 8 / 1e3, qt, method=method).value
    assert scaled == pytest.approx(bd_rate(ra, qa, rt, qt, method=method).value, rel=1e-10)


def test_better_codec_has_negative_bd_rate_for_lower_is_better_metric():
    rate = [0.1, 0.2, 0.4, 0.8]
    lpips_anchor = [0.50, 0.35, 0.22, 0.12]
    lpips_test = [0.40, 0.27, 0.16, 0.08]    # lower LPIPS at every rate: better
    r = bd_rate(rate, lpips_anchor, rate, lpips_test, higher_is_better=False)
    m = bd_metric(rate, lpips_anchor, rate, lpips_test, higher_is_better=False)
    assert r.value < 0
    assert m.value < 0   # BD-LPIPS: test minus anchor


def test_no_overlap_gives_nan_with_reason():
    r = bd_rate(*ANCHOR, [1000, 2000, 3000, 4000], [40, 41, 42, 43])
    assert math.isnan(r.value) and not r.ok
    assert r.reason.startswith("no overlap") and "[27.95, 38.11]" in r.reason and "[40, 43]" in r.reason
    m = bd_metric(*ANCHOR, [1000, 2000, 3000, 4000], [40, 41, 42, 43])
    assert math.isnan(m.value) and "bpp ranges" in m.reason


def test_too_few_points():
    r = bd_rate(ANCHOR[0][:3], ANCHOR[1][:3], *TEST)
    assert math.isnan(r.value) and "3 usable point(s), need at least 4" in r.reason
    assert bd_rate(ANCHOR[0][:3], ANCHOR[1][:3], *TEST, min_points=3).ok


def test_non_monotonic_point_is_dropped_and_reported():
    ra, qa = list(ANCHOR[0]), list(ANCHOR[1])
    # an extra point: more bits than the second point, lower PSNR
    bad_r, bad_q = ra + [200.0], qa + [30.0]
    r = bd_rate(bad_r, bad_q, *TEST)
    assert r.non_monotonic and any("dropped 1 non-monotonic point(s) at rate 200" in n for n in r.notes)
    assert r.value == pytest.approx(bd_rate(ra, qa, *TEST).value, rel=1e-12)
    err = bd_rate(bad_r, bad_q, *TEST, non_monotonic="error")
    assert math.isnan(err.value) and "non-monotonic" in err.reason
    kept = bd_rate(bad_r, bad_q, *TEST, non_monotonic="sort", method="cubic")
    assert kept.ok and kept.value != pytest.approx(r.value)


def test_repeated_and_equal_rate_points_keep_the_best_one():
    ra, qa = list(ANCHOR[0]), list(ANCHOR[1])
    clean = bd_rate(ra, qa, *TEST).value
    assert bd_rate(ra + [ra[1]], qa + [qa[1]], *TEST).value == pytest.approx(clean, rel=1e-12)
    # same rate, lower quality: the worse one goes
    assert bd_rate(ra + [ra[2]], qa + [qa[2] - 1.0], *TEST).value == pytest.approx(clean, rel=1e-12)
    assert bd_metric(ra + [ra[2]], qa + [qa[2] - 1.0], *TEST).ok


def test_non_finite_points_are_left_out():
    ra, qa = list(ANCHOR[0]), list(ANCHOR[1])
    r = bd_rate(ra + [900.0], qa + [math.inf], *TEST)    # e.g. a lossless point with infinite PSNR
    assert r.value == pytest.approx(bd_rate(ra, qa, *TEST).value)
    assert any("non-finite" in n for n in r.notes)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(BenchError, match="unknown BD method 'spline'"):
        bd_rate(*ANCHOR, *TEST, method="spline")
    with pytest.raises(BenchError, match="non-monotonic policy"):
        bd_rate(*ANCHOR, *TEST, non_monotonic="ignore")
    with pytest.raises(BenchError, match="equal length"):
        bd_rate([1, 2], [1, 2, 3], *TEST)
