"""PSNR on 8-bit RGB, over the whole image or weighted by a soft mask."""

from __future__ import annotations

import torch

from ._tiles import bands, rows_per_band
from .base import Metric, register_metric

# Elements per row band: small enough for the band's int32 temporaries to stay in cache, which made
# the uint8 path ~20x faster than one float64 pass over a 768x512 batch of 8 (and bounds memory).
BAND_ELEMS = 1 << 18


def _levels(x: torch.Tensor) -> torch.Tensor:
    """8-bit levels: uint8 as int32; float in [0, 1] rounded back to levels in float64 (exact)."""
    return x.int() if x.dtype == torch.uint8 else (x.double() * 255.0).round()


def masked_mse_255(ref: torch.Tensor, dist: torch.Tensor, mask: torch.Tensor | None = None,
                   band_elems: int = BAND_ELEMS) -> torch.Tensor:
    """Per-image MSE on the 0..255 scale (float64), averaged over channels and (weighted) pixels.

    Inputs are 8-bit images, as uint8 or scaled to [0, 1]: squared errors are integers either
    way (int32, or exact in float64), so the unmasked sum is exact and the result exactly the
    8-bit PSNR's MSE. Computed in row bands so temporaries stay small whatever the image size.
    """
    b, c, h, w = ref.shape
    err, weight = 0, 0
    for y0, y1 in bands(h, rows_per_band(b * c * w, band_elems)):
        d = _levels(ref[:, :, y0:y1]) - _levels(dist[:, :, y0:y1])
        d2 = d.mul_(d)
        if mask is None:
            err = err + d2.sum((1, 2, 3), dtype=torch.int64 if d2.dtype == torch.int32 else None)
        else:
            m = mask[:, :, y0:y1].double()      # same weight for every channel of a pixel
            err = err + (d2.sum(1, keepdim=True).double() * m).sum((1, 2, 3))
            weight = weight + c * m.sum((1, 2, 3))
    return err.double() / (c * h * w) if mask is None else err / weight


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
    input_dtype = "uint8"       # integer squared errors straight from the 8-bit data, no float copy
    # measured 24-35 (scripts/metric_memory.py --bpp, 1024x1024 uint8 pair): the pair (6) plus fixed costs
    bytes_per_pixel = 32.0

    def __call__(self, ref, dist, mask=None):
        return psnr_from_mse(masked_mse_255(ref, dist, mask))
