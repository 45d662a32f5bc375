"""Saliency-derived binary ROI masks: a static saliency model from OpenCV contrib (no
downloaded weights), smoothed into coherent regions and cut to a chosen ROI fraction."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import MaskGenerator, Param, register_generator, top_fraction

# Both are classic training-free models shipped in opencv-contrib's `saliency` module:
# spectral residual (Hou & Zhang, CVPR 2007) and fine-grained (Montabone & Soto, 2010).
ALGORITHMS = {
    "spectral-residual": "StaticSaliencySpectralResidual_create",
    "fine-grained": "StaticSaliencyFineGrained_create",
}


@register_generator
class Saliency(MaskGenerator):
    name = "saliency"
    family = "saliency"
    description = ("binary ROI: the most salient pixels of an OpenCV static saliency map "
                   "(Gaussian-smoothed), exactly `fraction` of the image")
    uses_pixels = True
    fraction_param = "fraction"
    params = {
        "fraction": Param(0.25, "share of pixels in the ROI"),
        "algorithm": Param("fine-grained", "OpenCV static saliency model",
                           tuple(ALGORITHMS)),
        "blur": Param(0.03, "Gaussian sigma of the smoothing, as a share of the longer "
                            "image side; larger gives fewer, rounder regions"),
    }

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            import cv2
        except ImportError:
            return "saliency masks need OpenCV: pip install opencv-contrib-python-headless"
        if not hasattr(cv2, "saliency"):
            return ("cv2.saliency is missing: another OpenCV wheel (opencv-python or "
                    "opencv-python-headless) shadows the contrib build; reinstall it with "
                    "`pip install --force-reinstall --no-deps opencv-contrib-python-headless`")
        return None

    def versions(self) -> dict[str, str]:
        import cv2
        import scipy
        return {**super().versions(), "opencv": cv2.__version__, "scipy": scipy.__version__}

    def generate(self, image: np.ndarray, rng: np.random.Generator, **p: Any) -> np.ndarray:
        import cv2
        from scipy.ndimage import gaussian_filter

        model = getattr(cv2.saliency, ALGORITHMS[p["algorithm"]])()
        ok, smap = model.computeSaliency(np.ascontiguousarray(image[..., ::-1]))  # RGB -> BGR
        if not ok:
            raise RuntimeError(f"OpenCV {p['algorithm']} saliency failed on a "
                               f"{image.shape[1]}x{image.shape[0]} image")
        smap = np.asarray(smap, dtype=np.float64)
        if p["blur"] > 0:
            smap = gaussian_filter(smap, sigma=p["blur"] * max(image.shape[:2]), mode="reflect")
        return top_fraction(smap, p["fraction"])
