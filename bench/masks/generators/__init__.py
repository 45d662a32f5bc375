"""Mask generators, one module per method family (saliency, geometric, random regions).

    make_mask("saliency", image, seed=0, key="kodim01", fraction=0.25)  # HxW float32 [0, 1]

A new method is a new @register_generator class in a module here; the registry finds it
by name without importing the other methods (saliency needs OpenCV).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import BenchError
from .base import (
    GENERATORS,
    MaskGenerator,
    Param,
    binary_fraction,
    image_rng,
    register_generator,
    roi_fraction,
    to_u8,
    top_fraction,
)

__all__ = ["GENERATORS", "MaskGenerator", "Param", "binary_fraction", "discover_generators",
           "get_generator", "image_rng", "make_mask", "register_generator", "roi_fraction",
           "to_u8", "top_fraction"]

def discover_generators() -> dict[str, type[MaskGenerator]]:
    """Every generator class (imports every method: for listings)."""
    return GENERATORS.load_all()


def get_generator(method: str) -> type[MaskGenerator]:
    cls = GENERATORS.load(method)
    why = cls.unavailable()
    if why:
        raise BenchError(f"mask method '{method}' is unavailable here: {why}")
    return cls


def make_mask(method: str, image: np.ndarray, seed: int = 0, key: str = "",
              **params: Any) -> np.ndarray:
    """Importance map for one image: HxW float32 in [0, 1] at the image's size.

    Deterministic in (method, params, seed, key, image pixels); `key` is the image stem,
    so each image of a set gets its own random draw.
    """
    cls = get_generator(method)
    resolved = cls.resolve_params(params)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise BenchError(f"mask method '{method}' needs an HxWx3 RGB image, got shape {image.shape}")
    out = cls().generate(image, image_rng(seed, key), **resolved)
    assert out.shape == image.shape[:2], (method, out.shape, image.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
