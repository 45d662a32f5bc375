"""Soft ROI masks for feature-map metrics: validation, and mask weight per feature cell.

A network layer's h x w map is treated as h x w equal cells tiling the image, so a cell's
weight is the integral of the pixel mask over its area. Spreading a layer's map over the
pixels it covers this way preserves averages exactly: with an all-ones mask the weighted
mean equals the plain mean (the unmasked metric), and ROI and background weights add up
to the full-image weights. (lpips' own spatial=True map uses bilinear upsampling, whose
edge weighting breaks both identities, which is why it is not used for the masked values.)
"""

from __future__ import annotations

import torch

from ..errors import BenchError


def check_mask(mask: torch.Tensor, ref: torch.Tensor) -> None:
    """A Bx1xHxW map in [0, 1] matching ref, with some weight in every image."""
    b, _, h, w = ref.shape
    if mask.dim() != 4 or mask.shape[0] != b or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != (h, w):
        raise BenchError(f"mask of shape {tuple(mask.shape)} does not fit images of shape {tuple(ref.shape)}: "
                         f"expected {b}x1x{h}x{w} (regenerate the mask at the image's size)")
    if not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise BenchError("mask values must lie in [0, 1]")
    empty = (mask.flatten(1).sum(1) <= 0).nonzero().flatten().tolist()
    if empty:
        raise BenchError(f"mask is all zero for image(s) {empty} of the batch: the masked metric is undefined "
                         "there (an empty ROI, or an ROI covering the whole image for the background)")


def _overlap(n_px: int, n_cells: int, device) -> torch.Tensor:
    """n_px x n_cells: length of pixel i ([i, i+1)) inside cell c ([c, c+1) * n_px / n_cells)."""
    edges = torch.arange(n_cells + 1, dtype=torch.float64, device=device) * (n_px / n_cells)
    lo = torch.arange(n_px, dtype=torch.float64, device=device)[:, None]
    return (torch.minimum(lo + 1, edges[None, 1:]) - torch.maximum(lo, edges[None, :-1])).clamp(min=0)


def cell_weights(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bx1xhxw float64: mask mass in each of the h x w cells (sums to the mask's pixel sum)."""
    h, w = size
    m = mask.double()[:, 0]
    ah = _overlap(m.shape[-2], h, m.device)
    aw = _overlap(m.shape[-1], w, m.device)
    return torch.einsum("hc,bhw,wd->bcd", ah, m, aw)[:, None]


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel mean of values (BxCxhxw) under weights (Bx1xhxw), in float64."""
    return (values.double() * weights).sum((2, 3)) / weights.sum((2, 3))
