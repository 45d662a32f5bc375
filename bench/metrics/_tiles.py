"""Row bands and halo'd tiles: how PSNR, MS-SSIM and LPIPS split images too large to compute at once.

Images of at most TILE_ABOVE pixels are computed whole, by the same code as before tiling existed,
so their values are unchanged bit for bit; larger ones in bands/tiles sized from a memory budget,
so peak memory depends on that budget (and the input tensors), not on the image size.
"""

from __future__ import annotations

from math import ceil

TILE_ABOVE = 2048 * 2048      # pixels per image
BAND_ELEMS = 1 << 24          # values in one MS-SSIM band's stacked statistics: 64 MB in float32
TILE_BYTES = 256 << 20        # working memory of one LPIPS tile (from the metric's bytes_per_pixel)


def is_large(h: int, w: int) -> bool:
    return h * w > TILE_ABOVE


def rows_per_band(elems_per_row: int, budget: int | None = None) -> int:
    return max(1, (budget or BAND_ELEMS) // max(1, elems_per_row))


def bands(n: int, size: int) -> list[tuple[int, int]]:
    """[a, b) ranges of at most `size` covering range(n), in order."""
    return [(a, min(a + size, n)) for a in range(0, n, max(1, size))]


def tiles(n: int, core: int, align: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(core_a, core_b, crop_a, crop_b) along one axis of length n: cores of `core` (rounded down to
    a multiple of `align`, so every core and crop starts on a multiple of `align`) partition
    range(n); crops add `halo` (rounded up likewise) on both sides, clipped to [0, n)."""
    core = max(align, core // align * align)
    halo = ceil(halo / align) * align
    return [(a, min(a + core, n), max(0, a - halo), min(n, a + core + halo)) for a in range(0, n, core)]


def owned(a: int, b: int, n: int, stride: int, size: int) -> tuple[int, int]:
    """Indices [i0, i1) of a feature map (`size` positions, position i at input pixel i * stride)
    that the piece with core [a, b) of an axis of length n owns: those with a <= i * stride < b
    (the last piece also takes the rest, so the pieces partition range(size))."""
    return ceil(a / stride), size if b >= n else min(size, ceil(b / stride))


def release_freed_memory() -> None:
    """Hand freed heap memory back to the OS (glibc): tiles' tensors are small enough for malloc's
    heap, whose free space would otherwise stay resident (~300 MB after LPIPS on 24 Mpx) and add to
    the peak of what comes next (the masked pooling, the next image)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):      # not glibc
        pass
