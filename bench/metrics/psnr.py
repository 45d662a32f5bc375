"""PSNR on 8-bit RGB, over the whole image or weighted by a soft mask."""

from __future__ import annotations

import torch

from .base import Metric, register_metric


def masked_mse_255(ref: torch.Tensor, dist: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image MSE on the 0..255 scale, averaged over channels and (weighted) pixels.

    Inputs are 8-bit images scaled to [0, 1] (float32); rounding back to integer levels in
    float64 makes the result exactly the 8-bit PSNR, free of float32 scaling error.
    """
    diff2 = ((ref.double() * 255.0).round() - (dist.double() * 255.0).round()) ** 2
    if mask is None:
        return diff2.mean(dim=(1, 2, 3))
    w = mask.double().expand_as(diff2)
    return (diff2 * w).sum(dim=(1, 2, 3)) / w.sum(dim=(1, 2, 3))


def psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(255.0 ** 2 / mse)


@register_metric
class PSNR(Metric):
    name = "psnr"
    higher_is_better = True
    supports_mask = True
    value_range = (0.0, float("inf"))
    unit = "dB"
    label = "PSNR (RGB, 8-bit)"
    from_mean_mse = True
    mask_note = "masked: MSE over mask-weighted pixels"

    def __call__(self, ref, dist, mask=None):
        return psnr_from_mse(masked_mse_255(ref, dist, mask))
