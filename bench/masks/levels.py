"""From an importance map to what an ROI codec consumes: a per-pixel level map (e.g. the
ROI paper's timestep map t) and its average-pooled version at a latent resolution.

The paper (Sec. 4.2) compresses each pixel with its own timestep t: low t in the ROI
(little noise, many bits), high t in the background (e.g. Appendix C: t = 5 vs t = 50),
and average-pools per-pixel timestep embeddings to the U-Net feature size (Sec. 5,
"Architecture"). Importance 1 maps to the ROI level, 0 to the background level, and
graded values linearly in between.
"""

from __future__ import annotations

import numpy as np
from skimage.measure import block_reduce

from ..errors import BenchError


def level_map(importance: np.ndarray, roi_level: float, bg_level: float,
              integer: bool = False) -> np.ndarray:
    """HxW float64 map: bg_level + (roi_level - bg_level) * importance.

    `integer=True` rounds to whole levels, for knobs that are indices (the paper's t
    counts DDIM steps)."""
    m = np.asarray(importance, dtype=np.float64)
    if m.ndim != 2:
        raise BenchError(f"level_map needs an HxW importance map, got shape {m.shape}")
    if m.size and (m.min() < 0.0 or m.max() > 1.0):
        raise BenchError(f"importance map values must lie in [0, 1], got [{m.min():g}, {m.max():g}]")
    out = bg_level + (roi_level - bg_level) * m
    return np.rint(out) if integer else out


def timestep_map(importance: np.ndarray, roi_t: int = 5, bg_t: int = 50) -> np.ndarray:
    """The paper's integer timestep map t (defaults: its Appendix C high/low rate pair)."""
    return level_map(importance, roi_t, bg_t, integer=True).astype(np.int64)


def pool_to_latent(level: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool an HxW map by `factor` (the VAE's downsampling, e.g. 8) to
    ceil(H/f) x ceil(W/f). Blocks cut by the image edge average only their real pixels,
    so the pixel-count-weighted mean of the output equals the input's mean."""
    if factor < 1 or int(factor) != factor:
        raise BenchError(f"pooling factor must be a positive integer, got {factor}")
    m = np.asarray(level, dtype=np.float64)
    if m.ndim != 2:
        raise BenchError(f"pool_to_latent needs an HxW map, got shape {m.shape}")
    f = (int(factor), int(factor))
    sums = block_reduce(m, f, np.sum, cval=0.0)
    counts = block_reduce(np.ones_like(m), f, np.sum, cval=0.0)
    return sums / counts


def block_pixel_counts(shape: tuple[int, int], factor: int) -> np.ndarray:
    """How many image pixels each pooled cell covers (weights for edge-aware means)."""
    return block_reduce(np.ones(shape), (int(factor), int(factor)), np.sum, cval=0.0)
