"""Fixed-geometry importance maps that need only the image size: a centre box, a
foveated map, and left/right halves (the ROI paper's Appendix C mask types)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...errors import BenchError
from .base import MaskGenerator, Param, register_generator


@register_generator
class CentreBox(MaskGenerator):
    name = "centre-box"
    family = "geometric"
    description = "binary ROI: a centred box with the image's aspect ratio covering `fraction`"
    fraction_param = "fraction"
    params = {"fraction": Param(0.25, "share of pixels in the box")}

    def generate(self, image: np.ndarray, rng: np.random.Generator, **p: Any) -> np.ndarray:
        h, w = image.shape[:2]
        bh = min(h, max(1, int(round(h * np.sqrt(p["fraction"])))))
        bw = min(w, max(1, int(round(p["fraction"] * h * w / bh))))
        top, left = (h - bh) // 2, (w - bw) // 2
        out = np.zeros((h, w), dtype=np.float32)
        out[top:top + bh, left:left + bw] = 1.0
        return out


@register_generator
class Foveated(MaskGenerator):
    """Importance 1 at the fixation point falling off as a Gaussian of the distance to it:
    the ROI paper's "foveated" map (Appendix C, Fig. 17) gives the centre most bits and
    gradually fewer towards the edges. Sigma is solved so that the mean importance (the
    ROI fraction) equals `fraction`."""
    name = "foveated"
    family = "geometric"
    description = "graded: Gaussian falloff from a fixation point, mean importance = `fraction`"
    fraction_param = "fraction"
    params = {
        "fraction": Param(0.3, "mean importance of the map"),
        "levels": Param(0, "0: continuous falloff; N >= 2: N discrete rings (0..1)"),
        "cx": Param(0.5, "fixation x as a share of the width"),
        "cy": Param(0.5, "fixation y as a share of the height"),
    }

    def generate(self, image: np.ndarray, rng: np.random.Generator, **p: Any) -> np.ndarray:
        if p["levels"] == 1 or p["levels"] < 0:
            raise BenchError(f"mask method 'foveated': levels must be 0 (continuous) or >= 2, "
                             f"got {p['levels']}")
        h, w = image.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        d2 = (xx + 0.5 - p["cx"] * w) ** 2 + (yy + 0.5 - p["cy"] * h) ** 2

        def falloff(sigma: float) -> np.ndarray:
            m = np.exp(-0.5 * d2 / sigma ** 2)
            if p["levels"]:
                m = np.round(m * (p["levels"] - 1)) / (p["levels"] - 1)
            return np.round(m * 255.0) / 255.0     # the mean of what is stored

        # The mean grows monotonically with sigma: bisect in log space.
        lo, hi = np.log(1e-3 * max(h, w)), np.log(1e3 * max(h, w))
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if falloff(np.exp(mid)).mean() < p["fraction"]:
                lo = mid
            else:
                hi = mid
        return falloff(np.exp(0.5 * (lo + hi))).astype(np.float32)


class _Half(MaskGenerator):
    family = "geometric"
    side: ClassVar[str]

    def generate(self, image: np.ndarray, rng: np.random.Generator, **p: Any) -> np.ndarray:
        h, w = image.shape[:2]
        out = np.zeros((h, w), dtype=np.float32)
        half = w // 2
        if self.side == "left":
            out[:, :half] = 1.0
        else:
            out[:, w - half:] = 1.0
        return out


@register_generator
class LeftHalf(_Half):
    name = "left-half"
    side = "left"
    description = "binary ROI: the left half (ROI paper Fig. 15: left high rate, right low)"


@register_generator
class RightHalf(_Half):
    name = "right-half"
    side = "right"
    description = "binary ROI: the right half"
