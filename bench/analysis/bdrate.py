"""Bjøntegaard-delta numbers: BD-rate (percent bits saved at equal quality) and BD-metric
(average quality gain at equal rate) between an anchor and a test RD curve.

Conventions
- Rates are bits per pixel (any positive unit works: only ratios matter); they are
  integrated in natural log, and the choice of log base cancels out of both numbers.
- Negative BD-rate = the test codec needs fewer bits = better, for every metric: a
  lower-is-better metric (LPIPS, DISTS, FID, KID) is negated before fitting.
- BD-metric is reported in the metric's own units as test minus anchor, so BD-PSNR > 0
  and BD-LPIPS < 0 both mean "better".
- Overlap is the intersection over union of the two curves' ranges in the integration
  variable (metric for BD-rate, log-rate for BD-metric); below `overlap_warn` the
  result carries a warning, with no overlap it is NaN with the reason.
- `interval` narrows the integration to a given range (bpp for BD-metric, metric values
  for BD-rate): a table that passes every pair the same interval (the intersection of
  all its curves, see `integration_range`) compares all codecs over one range, where
  per-pair ranges make each cell average over a different range.

Methods (interpolation of one curve, then exact integration over the overlap):
  pchip  piecewise cubic Hermite (monotone), the JVET common-test-conditions choice
  cubic  least-squares cubic polynomial, VCEG-M33 (Bjøntegaard 2001)
  akima  Akima spline (Akima 1970), a less oscillating alternative
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import BenchError

DEFAULT_METHOD = "pchip"
DEFAULT_MIN_POINTS = 4
OVERLAP_WARN = 0.75
NON_MONOTONIC_POLICIES = {
    "drop": "points dominated by a cheaper point of at least equal quality are dropped",
    "sort": "all points kept, sorted by the integration variable",
    "error": "a curve with a non-monotonic point gives no value",
}
DEFAULT_NON_MONOTONIC = "drop"


def _integrate_cubic(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    # Polynomial.fit works in a scaled domain, better conditioned than np.polyfit on raw
    # PSNR values; the least-squares fit (exact for 4 points) is the same polynomial.
    poly = np.polynomial.Polynomial.fit(x, y, deg=min(3, len(x) - 1))
    antiderivative = poly.integ()
    return float(antiderivative(hi) - antiderivative(lo))


def _integrate_scipy(name: str) -> Callable[[np.ndarray, np.ndarray, float, float], float]:
    def integrate(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
        from scipy import interpolate
        return float(getattr(interpolate, name)(x, y).integrate(lo, hi))
    return integrate


# method -> (integrator over a strictly increasing x, what it is)
METHODS: dict[str, tuple[Callable[[np.ndarray, np.ndarray, float, float], float], str]] = {
    "pchip": (_integrate_scipy("PchipInterpolator"), "piecewise cubic Hermite (JVET CTC)"),
    "cubic": (_integrate_cubic, "cubic polynomial fit (VCEG-M33)"),
    "akima": (_integrate_scipy("Akima1DInterpolator"), "Akima spline"),
}


@dataclass(frozen=True)
class BDResult:
    value: float                      # percent (rate) or metric units (metric); NaN when undefined
    kind: str                         # "rate" | "metric"
    method: str
    overlap: float = math.nan         # IoU of the integration intervals
    reason: str | None = None         # why value is NaN
    notes: tuple[str, ...] = ()       # points left out and why, per curve
    overlap_warn: float = OVERLAP_WARN
    interval: tuple[float, float] | None = None   # what was integrated: bpp (metric) or metric values (rate)

    @property
    def ok(self) -> bool:
        return math.isfinite(self.value)

    @property
    def low_overlap(self) -> bool:
        return self.ok and self.overlap < self.overlap_warn

    @property
    def non_monotonic(self) -> bool:
        return any("non-monotonic" in n for n in self.notes)


@dataclass
class _Prepared:
    rate: np.ndarray = field(default_factory=lambda: np.empty(0))
    quality: np.ndarray = field(default_factory=lambda: np.empty(0))   # oriented: higher is better
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def _prepare(name: str, rate: Sequence[float], metric: Sequence[float], higher_is_better: bool,
             non_monotonic: str) -> _Prepared:
    r = np.asarray(rate, dtype=float)
    q = np.asarray(metric, dtype=float)
    if r.shape != q.shape or r.ndim != 1:
        raise BenchError(f"{name} curve: rate and metric must be 1-D of equal length, got {r.shape} and {q.shape}")
    out = _Prepared()
    if not higher_is_better:
        q = -q
    finite = np.isfinite(r) & np.isfinite(q) & (r > 0)
    if not finite.all():
        out.notes.append(f"{name}: {int((~finite).sum())} point(s) with non-finite value or rate <= 0 left out")
    r, q = r[finite], q[finite]
    # By rate, best quality first among equal rates: a point is kept only if it beats every
    # cheaper (or equally cheap) point, so the survivors are strictly increasing in both.
    order = np.lexsort((-q, r))
    r, q = r[order], q[order]
    keep = np.ones(len(r), dtype=bool)
    best_q = -math.inf
    for i in range(len(r)):
        if q[i] <= best_q:
            keep[i] = False
        else:
            best_q = q[i]
    n_bad = int((~keep).sum())
    if n_bad:
        bad = "rate " + ", ".join(f"{x:.4g}" for x in r[~keep])
        if non_monotonic == "error":
            out.error = f"{name} curve is non-monotonic at {bad} (more bits, no better quality)"
        elif non_monotonic == "drop":
            out.notes.append(f"{name}: dropped {n_bad} non-monotonic point(s) at {bad}")
            r, q = r[keep], q[keep]
        else:
            out.notes.append(f"{name}: kept {n_bad} non-monotonic point(s) at {bad}, sorted by the "
                             "integration variable")
    out.rate, out.quality = r, q
    return out


def check_args(method: str, non_monotonic: str) -> None:
    if method not in METHODS:
        raise BenchError(f"unknown BD method '{method}'; choose one of {', '.join(METHODS)}")
    if non_monotonic not in NON_MONOTONIC_POLICIES:
        raise BenchError(f"unknown non-monotonic policy '{non_monotonic}'; choose one of "
                         f"{', '.join(NON_MONOTONIC_POLICIES)}")


def _sorted_strict(x: np.ndarray, y: np.ndarray, name: str, var: str) -> tuple[np.ndarray, np.ndarray, str | None]:
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        return x, y, f"{name} curve has two points with the same {var}; it is not a function of {var}"
    return x, y, None


def _to_x(kind: str, lo: float, hi: float, higher_is_better: bool) -> tuple[float, float]:
    """User units (bpp, or the metric as stored) -> the integration variable."""
    if kind == "metric":
        return math.log(lo), math.log(hi)
    return (lo, hi) if higher_is_better else (-hi, -lo)


def _from_x(kind: str, lo: float, hi: float, higher_is_better: bool) -> tuple[float, float]:
    if kind == "metric":
        return math.exp(lo), math.exp(hi)
    return (lo, hi) if higher_is_better else (-hi, -lo)


def integration_range(kind: str, rate: Sequence[float], metric: Sequence[float], *, higher_is_better: bool = True,
                      min_points: int = DEFAULT_MIN_POINTS,
                      non_monotonic: str = DEFAULT_NON_MONOTONIC) -> tuple[float, float] | None:
    """The span one curve covers in the variable BD integrates over, after the same point
    cleaning as bd_rate/bd_metric: bpp for kind "metric", metric values (low, high) for
    kind "rate". None when the curve would give no value anyway."""
    check_args(method=DEFAULT_METHOD, non_monotonic=non_monotonic)
    c = _prepare("curve", rate, metric, higher_is_better, non_monotonic)
    if c.error or len(c.rate) < max(min_points, 2):
        return None
    x = np.log(c.rate) if kind == "metric" else c.quality
    return _from_x(kind, float(x.min()), float(x.max()), higher_is_better)


def _bd(kind: str, anchor: tuple, test: tuple, higher_is_better: bool, method: str,
        min_points: int, non_monotonic: str, overlap_warn: float,
        interval: tuple[float, float] | None = None) -> BDResult:
    check_args(method, non_monotonic)
    a = _prepare("anchor", *anchor, higher_is_better, non_monotonic)
    t = _prepare("test", *test, higher_is_better, non_monotonic)
    notes = tuple(a.notes + t.notes)

    def nan(reason: str, overlap: float = math.nan) -> BDResult:
        return BDResult(math.nan, kind, method, overlap, reason, notes, overlap_warn)

    for c in (a, t):
        if c.error:
            return nan(c.error)
    for label, c in (("anchor", a), ("test", t)):
        if len(c.rate) < max(min_points, 2):
            return nan(f"{label} curve has {len(c.rate)} usable point(s), need at least {max(min_points, 2)}")

    # BD-rate integrates log-rate over quality; BD-metric integrates quality over log-rate.
    if kind == "rate":
        xa, ya, xt, yt, var = a.quality, np.log(a.rate), t.quality, np.log(t.rate), "quality"
    else:
        xa, ya, xt, yt, var = np.log(a.rate), a.quality, np.log(t.rate), t.quality, "rate"
    xa, ya, err_a = _sorted_strict(xa, ya, "anchor", var)
    xt, yt, err_t = _sorted_strict(xt, yt, "test", var)
    if err_a or err_t:
        return nan(err_a or err_t)

    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    union = max(xa[-1], xt[-1]) - min(xa[0], xt[0])
    if hi <= lo:
        def span(x: np.ndarray) -> str:  # back to the user's units: bpp, or the metric's sign
            ends = np.exp(x[[0, -1]]) if kind == "metric" else (x[[0, -1]] if higher_is_better else -x[[-1, 0]])
            return f"[{ends[0]:.4g}, {ends[1]:.4g}]"
        what = "bpp" if kind == "metric" else "metric"
        return nan(f"no overlap: {what} ranges {span(xa)} (anchor) and {span(xt)} (test) do not intersect", 0.0)
    if interval is not None:
        ilo, ihi = _to_x(kind, *interval, higher_is_better)
        lo, hi = max(lo, ilo), min(hi, ihi)
        if hi <= lo:
            return nan(f"no overlap with the range [{interval[0]:.4g}, {interval[1]:.4g}] "
                       f"({'bpp' if kind == 'metric' else 'metric'})", 0.0)
    overlap = (hi - lo) / union

    integrate = METHODS[method][0]
    mean_diff = (integrate(xt, yt, lo, hi) - integrate(xa, ya, lo, hi)) / (hi - lo)
    if kind == "rate":
        value = (math.exp(mean_diff) - 1.0) * 100.0
    else:
        value = mean_diff if higher_is_better else -mean_diff
    return BDResult(value, kind, method, overlap, None, notes, overlap_warn, _from_x(kind, lo, hi, higher_is_better))


def bd_rate(anchor_rate: Sequence[float], anchor_metric: Sequence[float],
            test_rate: Sequence[float], test_metric: Sequence[float], *,
            higher_is_better: bool = True, method: str = DEFAULT_METHOD,
            min_points: int = DEFAULT_MIN_POINTS, non_monotonic: str = DEFAULT_NON_MONOTONIC,
            overlap_warn: float = OVERLAP_WARN, interval: tuple[float, float] | None = None) -> BDResult:
    """Average rate difference of test vs anchor at equal quality, in percent; `interval`
    (metric values, low to high) narrows the quality range averaged over."""
    return _bd("rate", (anchor_rate, anchor_metric), (test_rate, test_metric), higher_is_better,
               method, min_points, non_monotonic, overlap_warn, interval)


def bd_metric(anchor_rate: Sequence[float], anchor_metric: Sequence[float],
              test_rate: Sequence[float], test_metric: Sequence[float], *,
              higher_is_better: bool = True, method: str = DEFAULT_METHOD,
              min_points: int = DEFAULT_MIN_POINTS, non_monotonic: str = DEFAULT_NON_MONOTONIC,
              overlap_warn: float = OVERLAP_WARN, interval: tuple[float, float] | None = None) -> BDResult:
    """Average quality difference (test minus anchor, metric units) at equal rate; `interval`
    (bpp, low to high) narrows the rate range averaged over."""
    return _bd("metric", (anchor_rate, anchor_metric), (test_rate, test_metric), higher_is_better,
               method, min_points, non_monotonic, overlap_warn, interval)
