"""MS-SSIM on RGB in [0, 1], as CompressAI computes it (pytorch_msssim, data_range=1)."""

from __future__ import annotations

from .base import Metric, register_metric

# The standard 5-scale MS-SSIM needs the smaller side above (11 - 1) * 2**4 = 160 px.
MIN_SIDE = 161


@register_metric
class MSSSIM(Metric):
    name = "ms-ssim"
    higher_is_better = True
    value_range = (0.0, 1.0)
    label = "MS-SSIM (RGB)"
    mask_note = "no masked variant: MS-SSIM's multi-scale pooling has no standard mask definition"

    def __call__(self, ref, dist, mask=None):
        from pytorch_msssim import ms_ssim

        from ..errors import BenchError
        if min(ref.shape[-2:]) < MIN_SIDE:
            raise BenchError(f"MS-SSIM needs images of at least {MIN_SIDE}px per side, got "
                             f"{tuple(ref.shape[-2:])}")
        return ms_ssim(ref.float(), dist.float(), data_range=1.0, size_average=False)

    def versions(self):
        import importlib.metadata as md
        return {"pytorch_msssim": md.version("pytorch_msssim")}
