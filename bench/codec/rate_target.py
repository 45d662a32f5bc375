"""Hit a target bpp per image by bisection on a codec's native knob (`bench run --target-bpp`).

Float knobs switch from halving to a secant on log(bpp) once two probes exist, falling
back to halving after any step that did not halve the bracket; that cuts the encodes of
slow codecs (VVenC: 6-16 s each) to about half.

The knob is searched in the orientation where bpp rises (QP-like knobs are flipped via
`rate_increases_bpp`). Range ends are only encoded when the bracket closes onto them,
so an extreme knob value (QP 0, lossless-like) is never paid for unless the target
needs it. Every probe is kept: the closest one wins, and the (knob, bpp) pairs are
checked for monotonicity, since codecs with rate-distortion optimisation can bump.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ..errors import BenchError
from .api import Codec

FLOAT_RTOL = 0.01       # a float knob stops once within 1 % of the target
FLOAT_MAX_PROBES = 14   # ... or after this many encodes
FLOAT_XTOL_COARSE = 1e-3  # ... or at this fraction of the knob range once a probe is within
                          # TOLERANCE / 2, or within TOLERANCE with a step in bpp in the bracket
FLOAT_XTOL = 1e-6       # ... or at this one (plateaus, range ends; libwebp's bpp climbs 30 % between
                        # quality 0 and 0.1, so a coarse bracket can still hide the target)
KNOB_DIGITS = 4         # float knob values are probed (and stored) to this many decimals
INTERP_MARGIN = 0.05    # an interpolated probe keeps this fraction of the bracket from either end
STEP_RTOL = 0.005       # a narrow bracket's half that changes bpp less than this is flat: a step
MONOTONIC_RTOL = 0.01   # RDO noise between close probes (VVenC faster: up to 0.5 %) is not a fold
TOLERANCE = 0.05        # what the detail calls "within tolerance" (a row is never dropped for it)


def encode_at_target(codec: Codec, image: np.ndarray, target_bpp: float,
                     roi: np.ndarray | None = None) -> tuple[bytes, float, dict[str, Any]]:
    """Bitstream at the knob value whose bpp is closest to `target_bpp`, that value, and a detail dict.

    detail: target_bpp, achieved_bpp, rel_error, within_tolerance, iterations (encodes),
    reachable, reason (when not reachable), probes [[knob, bpp], ...] in knob order,
    monotonic.
    """
    if not (isinstance(target_bpp, (int, float)) and math.isfinite(target_bpp) and target_bpp > 0):
        raise BenchError(f"--target-bpp {target_bpp!r} must be a positive number of bits per pixel")
    h, w = image.shape[:2]
    integer = codec.rate_is_integer
    lo_knob, hi_knob = codec.rate_range
    if integer:
        lo_knob, hi_knob = math.ceil(lo_knob), math.floor(hi_knob)
    sign = 1.0 if codec.rate_increases_bpp else -1.0     # u = sign * knob rises with bpp
    # positive float knobs (distance, bpp) act on a ratio scale: bisect their logarithm
    geometric = not integer and lo_knob > 0
    scale, unscale = (math.log, math.exp) if geometric else (float, float)
    probes: dict[float, tuple[float, bytes]] = {}

    def knob_of(u: float) -> float:
        if integer:
            return round(sign * u)
        return round(min(max(unscale(sign * u), lo_knob), hi_knob), KNOB_DIGITS) + 0.0  # + 0.0: no "-0"

    def probe(u: float) -> float:
        knob = knob_of(u)
        if knob not in probes:
            data = codec.encode(image, knob, roi=roi)
            probes[knob] = (codec.rate_bits(data) / (h * w), data)
        return probes[knob][0]

    def closest_error() -> float:
        return min((abs(b - target_bpp) for b, _ in probes.values()), default=math.inf)

    def interpolated(u_lo: float, u_hi: float) -> float | None:
        """Secant on log(bpp) through the two probes nearest the target (log bpp is close to
        linear in QP, quality and log distance), kept inside the bracket and off its ends so
        the bracket shrinks; the probes need not be the bracket's ends (an unprobed range end)."""
        points = sorted(((sign * scale(k), math.log(b)) for k, (b, _) in probes.items() if b > 0),
                        key=lambda p: abs(p[1] - math.log(target_bpp)))[:2]
        if len(points) < 2 or points[0][0] == points[1][0] or points[0][1] == points[1][1]:
            return None
        (u1, l1), (u2, l2) = points
        if (l2 - l1) / (u2 - u1) <= 0:                  # bpp must rise with u; a fold: bisect
            return None
        u = u1 + (math.log(target_bpp) - l1) * (u2 - u1) / (l2 - l1)
        margin = INTERP_MARGIN * (u_hi - u_lo)
        return min(max(u, u_lo + margin), u_hi - margin)

    # bracket in u-space: bpp(u_lo) <= target <= bpp(u_hi) is assumed until an end is probed
    u_lo, u_hi = sorted((sign * scale(lo_knob), sign * scale(hi_knob)))
    u_lo_start, u_hi_start = u_lo, u_hi
    bisect_next = step_seen = False
    while True:
        width = u_hi - u_lo
        if integer:
            if width <= 1:
                break
            u_mid = math.floor((u_lo + u_hi) / 2)
        else:
            span = u_hi_start - u_lo_start
            if len(probes) >= FLOAT_MAX_PROBES or width < FLOAT_XTOL * span:
                break
            if width < FLOAT_XTOL_COARSE * span and (closest_error() <= TOLERANCE / 2 * target_bpp or (
                    step_seen and closest_error() <= TOLERANCE * target_bpp)):
                break                           # close enough, or a step in bpp (VVC's slice QP)
            guess = None if bisect_next else interpolated(u_lo, u_hi)
            u_mid = (u_lo + u_hi) / 2 if guess is None else guess
            if knob_of(u_mid) in probes:        # the bracket is down to the knob's resolution
                break
        bpp = probe(u_mid)
        if not integer and abs(bpp - target_bpp) <= FLOAT_RTOL * target_bpp:
            break
        replaced = u_lo if bpp < target_bpp else u_hi
        if bpp < target_bpp:
            u_lo = u_mid
        else:
            u_hi = u_mid
        if not integer and width < FLOAT_XTOL_COARSE * span and knob_of(replaced) in probes:
            # inside a narrow bracket, a probe that matches the end it replaces: the rise is a step
            step_seen |= abs(bpp / probes[knob_of(replaced)][0] - 1) < STEP_RTOL
        # a step in bpp (or a bend) stalls the secant on one side: bisect after a poor step
        bisect_next = not integer and u_hi - u_lo > width / 2

    # an end of the knob range that the bracket closed onto: probe it to know if the target is reachable
    u_min, u_max = u_lo_start, u_hi_start
    best_bpp = min((b for b, _ in probes.values()), key=lambda b: abs(b - target_bpp))
    if abs(best_bpp - target_bpp) > FLOAT_RTOL * target_bpp or integer:
        for u_end, close in ((u_min, u_lo == u_min), (u_max, u_hi == u_max)):
            if close:
                probe(u_end)

    knob, (achieved, data) = min(probes.items(), key=lambda kv: (abs(kv[1][0] - target_bpp), kv[0]))
    ordered = sorted(probes.items(), key=lambda kv: sign * kv[0])     # by rising u
    bpps = [b for _, (b, _) in ordered]
    monotonic = all(b1 <= b2 * (1 + MONOTONIC_RTOL) for b1, b2 in itertools.pairwise(bpps))
    detail: dict[str, Any] = {
        "target_bpp": float(target_bpp), "achieved_bpp": achieved,
        "rel_error": (achieved - target_bpp) / target_bpp,
        "within_tolerance": abs(achieved - target_bpp) <= TOLERANCE * target_bpp,
        "rate_param": codec.rate_param, "iterations": len(probes),
        "probes": [[k, b] for k, (b, _) in sorted(probes.items())], "monotonic": monotonic,
        "reachable": True,
    }
    floor_knob, ceil_knob = knob_of(u_min), knob_of(u_max)
    if floor_knob in probes and target_bpp < probes[floor_knob][0]:
        detail.update(reachable=False, reason=f"target {target_bpp:g} bpp is below the lowest this codec "
                      f"reaches on this image ({probes[floor_knob][0]:.4g} bpp at {codec.rate_param}="
                      f"{floor_knob:g})")
    elif ceil_knob in probes and target_bpp > probes[ceil_knob][0]:
        detail.update(reachable=False, reason=f"target {target_bpp:g} bpp is above the highest this codec "
                      f"reaches on this image ({probes[ceil_knob][0]:.4g} bpp at {codec.rate_param}="
                      f"{ceil_knob:g})")
    if detail["reachable"] and not detail["within_tolerance"]:
        below = [(k, b) for k, (b, _) in ordered if b < target_bpp][-1:]
        above = [(k, b) for k, (b, _) in ordered if b >= target_bpp][:1]
        steps = ", ".join(f"{codec.rate_param}={k:g} gives {b:.4g} bpp" for k, b in below + above)
        detail["note"] = f"the knob is too coarse here to come within {TOLERANCE:.0%}: {steps}"
    if not monotonic:
        warning = f"bpp is not monotonic in {codec.rate_param} over the probes; closest probe kept"
        detail["note"] = "; ".join(filter(None, [detail.get("note"), warning]))
    return data, knob, detail
