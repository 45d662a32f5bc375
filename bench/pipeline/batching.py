"""How many same-size images one metric batch holds (`--batch-size`, default: chosen here).

On a CPU one image at a time is fastest for every metric measured (perf-audit.md: batches
of Kodak images allocate tensors above glibc's mmap threshold and page-fault on every op),
so the default there is 1. On an accelerator the batch fills half the free device memory,
at the largest per-pixel working memory of the run's metrics, capped at MAX_BATCH.
Images above TILE_ABOVE pixels are metric-ed by psnr, ms-ssim and lpips in bands or tiles
(bench.metrics._tiles), so the peak is then set by the batch and tile size, not the image size.
"""

from __future__ import annotations

from ..metrics._tiles import TILE_ABOVE

MAX_BATCH = 64
DEVICE_MEMORY_SHARE = 0.5

RULE = ("default: 1 on CPU (fastest there), on CUDA as many as half the free device memory holds "
        f"(at most {MAX_BATCH}); images above {TILE_ABOVE:,} pixels (2048x2048) are computed in bands or "
        "tiles (psnr, ms-ssim, lpips; values equal the whole-image ones), so peak memory follows the "
        "batch and tile size, not the image size")


def batch_from_memory(bytes_per_pixel: float, height: int, width: int, free_bytes: int) -> int:
    return int(max(1, min(MAX_BATCH, DEVICE_MEMORY_SHARE * free_bytes // (bytes_per_pixel * height * width))))


def metric_batch_size(metrics: list, height: int, width: int, device: str, requested: int | None = None) -> int:
    if requested:
        return max(1, requested)
    if not device.startswith("cuda") or not metrics:
        return 1
    import torch
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return batch_from_memory(max(m.bytes_per_pixel for m in metrics), height, width, free)
