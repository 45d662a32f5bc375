"""Mask overlays for `bench masks show` and the report's gallery: the ROI outline
(importance >= 0.5) drawn on the image, plus thin contours between the other levels of a
graded map."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation
from skimage.segmentation import find_boundaries

from ..errors import BenchError

ROI_COLOUR = (255, 215, 0)      # the >= 0.5 outline
LEVEL_COLOUR = (0, 190, 255)    # contours between other levels of graded maps
MAX_LISTED_LEVELS = 9           # more distinct values than this: a continuous map


def level_thresholds(mask: np.ndarray) -> list[float]:
    """Where graded contours go: midway between adjacent distinct levels (few levels), or
    at 0.25 and 0.75 (continuous maps); 0.5 itself is the ROI outline."""
    values = np.unique(mask)
    if len(values) <= MAX_LISTED_LEVELS:
        mids = (values[:-1] + values[1:]) / 2
        roi_cut = np.searchsorted(values, 0.5)      # the pair straddling 0.5 is the outline
        return [float(m) for i, m in enumerate(mids) if i != roi_cut - 1]
    return [0.25, 0.75]


def _paint(out: np.ndarray, region: np.ndarray, colour: tuple[int, int, int], width: int) -> None:
    edge = find_boundaries(region, mode="inner")
    if width > 1:
        edge = binary_dilation(edge, iterations=width - 1)
    out[edge] = colour


def draw_roi_outline(image_u8: np.ndarray, mask: np.ndarray, dim: float = 0.0) -> np.ndarray:
    """HxWx3 uint8 copy of `image_u8` with the outline of `mask >= 0.5` (mask: HxW in
    [0, 1]); `dim` in [0, 1) darkens pixels in proportion to 1 - importance."""
    image_u8 = np.asarray(image_u8)
    mask = np.asarray(mask, dtype=np.float32)
    if image_u8.ndim != 3 or image_u8.shape[2] != 3 or mask.shape != image_u8.shape[:2]:
        raise BenchError(f"overlay: mask {mask.shape} does not match image {image_u8.shape}; "
                         "both must be the same HxW")
    out = image_u8.astype(np.float32)
    if dim:
        out *= (1.0 - dim * (1.0 - mask))[..., None]
    out = np.round(out).astype(np.uint8)
    width = max(1, round(min(mask.shape) / 256))
    for t in level_thresholds(mask):
        _paint(out, mask >= t, LEVEL_COLOUR, max(1, width // 2))
    _paint(out, mask >= 0.5, ROI_COLOUR, width)
    return out
