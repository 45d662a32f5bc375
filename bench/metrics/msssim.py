"""MS-SSIM on RGB in [0, 1], valued exactly as CompressAI reports it (pytorch_msssim, data_range=1).

Computed here rather than by calling pytorch_msssim because that library filters its five
local statistics one at a time; stacking them into one grouped convolution gives the same
numbers (tested against pytorch_msssim to 1e-5, float32 summation order) about 3x faster on CPU, where MS-SSIM was
most of a default run's time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._tiles import bands, is_large, rows_per_band
from .base import Metric, register_metric, unit_float

# The standard 5-scale MS-SSIM needs the smaller side above (11 - 1) * 2**4 = 160 px.
MIN_SIDE = 161
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)   # Wang, Simoncelli, Bovik 2003
WIN_SIZE, WIN_SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def _gaussian(device) -> torch.Tensor:
    c = torch.arange(WIN_SIZE, dtype=torch.float32, device=device) - WIN_SIZE // 2
    g = torch.exp(-(c ** 2) / (2 * WIN_SIGMA ** 2))
    return g / g.sum()


def _value_map(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, last: bool) -> torch.Tensor:
    """The contrast-structure map (full SSIM map at the last scale) of valid 11x11 windows."""
    c1, c2 = K1 ** 2, K2 ** 2
    channels = x.shape[1]
    stats = torch.cat([x, y, x * x, y * y, x * y], 1)
    n = stats.shape[1]
    stats = F.conv2d(stats, g.view(1, 1, 1, -1).expand(n, 1, 1, WIN_SIZE), groups=n)
    stats = F.conv2d(stats, g.view(1, 1, -1, 1).expand(n, 1, WIN_SIZE, 1), groups=n)
    mx, my, sxx, syy, sxy = stats.split(channels, 1)
    sxx, syy, sxy = sxx - mx * mx, syy - my * my, sxy - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return cs * (2 * mx * my + c1) / (mx * mx + my * my + c1) if last else cs


def _map_mean(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, last: bool, band_rows: int | None) -> torch.Tensor:
    """BxC mean of the value map: whole, or summed over bands of `band_rows` output rows (each
    needing WIN_SIZE - 1 more input rows, the map being a valid filtering) in float64."""
    if band_rows is None:
        return _value_map(x, y, g, last).flatten(2).mean(-1)
    out_rows, total = x.shape[2] - WIN_SIZE + 1, 0
    for y0, y1 in bands(out_rows, band_rows):
        v = _value_map(x[:, :, y0:y1 + WIN_SIZE - 1], y[:, :, y0:y1 + WIN_SIZE - 1], g, last)
        total = total + v.sum((2, 3), dtype=torch.float64)
    return (total / (out_rows * v.shape[-1])).float()


def ms_ssim(x: torch.Tensor, y: torch.Tensor, band_rows: int | None = None) -> torch.Tensor:
    """Per-image MS-SSIM of Bx3xHxW tensors in [0, 1] (channel values averaged per scale).
    band_rows: compute each scale's map in bands of that many rows (bounded memory) instead of whole."""
    g = _gaussian(x.device)
    per_scale = []
    for level in range(len(WEIGHTS)):
        last = level == len(WEIGHTS) - 1
        per_scale.append(torch.relu(_map_mean(x, y, g, last, band_rows)))
        if not last:
            pad = [s % 2 for s in x.shape[2:]]     # as pytorch_msssim: zero padding counted in the mean
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    w = torch.tensor(WEIGHTS, device=x.device).view(-1, 1, 1)
    return torch.prod(torch.stack(per_scale) ** w, 0).mean(1)


@register_metric
class MSSSIM(Metric):
    name = "ms-ssim"
    higher_is_better = True
    value_range = (0.0, 1.0)
    label = "MS-SSIM (RGB)"
    bytes_per_pixel = 255.0     # measured 251-262 (scripts/metric_memory.py --bpp, 1024x1024 float32 pair)
    mask_note = "no masked variant: MS-SSIM's multi-scale pooling has no standard mask definition"
    input_dtype = "uint8"       # converted here: per channel for large images

    def __call__(self, ref, dist, mask=None):
        from ..errors import BenchError
        if min(ref.shape[-2:]) < MIN_SIDE:
            raise BenchError(f"MS-SSIM needs images of at least {MIN_SIDE}px per side, got "
                             f"{tuple(ref.shape[-2:])}")
        b, c, h, w = ref.shape
        if not is_large(h, w):
            return ms_ssim(unit_float(ref), unit_float(dist))
        # large images: channels stay independent up to the final mean, so one channel at a time
        # in float32 (a 6000x4000 float pair is 576 MB), in bands whose stacked statistics (5 per
        # channel) hold about BAND_ELEMS values
        band_rows = rows_per_band(b * 5 * w)
        return torch.stack([ms_ssim(unit_float(ref[:, k:k + 1]), unit_float(dist[:, k:k + 1]), band_rows)
                            for k in range(c)], 1).mean(1)

    def versions(self):
        return {"implementation": "bench grouped-filter MS-SSIM, equal to pytorch_msssim 1.0 (data_range=1)"}
