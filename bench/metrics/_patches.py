"""The HiFiC patch protocol for FID/KID on few, large images (Mentzer et al. 2020, "FID/256").

Each image is cut into non-overlapping 256x256 patches; when both sides are at least
384 px, a second grid shifted by 128 px in x and y adds more (NeuralCompression's
update_patch_fid does the same). A 768x512 Kodak image gives 3x2 + 2x1 = 8 patches.
"""

from __future__ import annotations

import numpy as np
import torch

PATCH = 256
SHIFT = PATCH // 2
MIN_SIDE_FOR_SHIFT = PATCH + SHIFT    # 384


def patch_origins(height: int, width: int, size: int = PATCH) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of the patches of one image, base grid first."""
    shift = size // 2
    offsets = [0] + ([shift] if height >= size + shift and width >= size + shift else [])
    return [(y, x) for off in offsets
            for y in range(off, height - size + 1, size)
            for x in range(off, width - size + 1, size)]


def extract_patches(image: np.ndarray, size: int = PATCH) -> torch.Tensor:
    """HxWx3 uint8 image -> Nx3xsize x size uint8 tensor (N may be 0 for small images)."""
    h, w = image.shape[:2]
    t = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)   # a copy: PIL arrays are read-only
    crops = [t[:, y:y + size, x:x + size] for y, x in patch_origins(h, w, size)]
    return torch.stack(crops) if crops else torch.empty((0, 3, size, size), dtype=torch.uint8)


def to_uint8(batch: torch.Tensor) -> list[np.ndarray]:
    """Bx3xHxW floats in [0, 1] -> HxWx3 uint8 arrays (exact for images loaded from 8-bit files)."""
    u8 = (batch.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(u8)
