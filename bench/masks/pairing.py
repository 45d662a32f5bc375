"""Pairing dataset images with a mask set by file stem, with per-image validation.

A mask is an 8-bit PNG: 0 = background, 255 = ROI, values between = graded importance;
it is read as a float map in [0, 1].
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BenchError
from ..paths import MASKS_DIR


@dataclass(frozen=True)
class MaskRef:
    set: str
    path: str
    sha256: str     # of the raw HxW uint8 mask pixels


def mask_set_dir(spec: str) -> tuple[str, Path]:
    """A set name under masks/ or a folder path -> (set name, folder)."""
    path = Path(spec)
    if path.is_dir():
        return path.name, path
    named = MASKS_DIR / spec
    if named.is_dir():
        return spec, named
    known = sorted(p.name for p in MASKS_DIR.iterdir() if p.is_dir()) if MASKS_DIR.is_dir() else []
    raise BenchError(f"unknown ROI mask set '{spec}': no folder masks/{spec} and no such path; "
                     f"known sets: {', '.join(known) or 'none'} (make one with `bench masks make`)")


def read_mask_u8(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "1", "P"):
                img = img.convert("L")
            return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    except OSError as exc:
        raise BenchError(f"cannot read mask {path}: {exc}") from None


def _size_error(path, mask_shape, image_shape) -> str:
    return (f"mask {path} is {mask_shape[1]}x{mask_shape[0]} but its image is "
            f"{image_shape[1]}x{image_shape[0]}; regenerate the mask at the image's size")


def load_mask(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """HxW float32 map in [0, 1]; a wrong size or an all-zero map is a BenchError."""
    m = read_mask_u8(path)
    if shape is not None and m.shape != tuple(shape):
        raise BenchError(_size_error(path, m.shape, shape))
    if not m.any():
        raise BenchError(f"mask {path} is all zero (no ROI); ROI metrics are undefined for it")
    return m.astype(np.float32) / 255.0


def mask_sha256(path: str | Path) -> str:
    return hashlib.sha256(read_mask_u8(path).tobytes()).hexdigest()


def pair_masks(spec: str, stems: list[str],
               shapes: dict[str, tuple[int, int]] | None = None) -> tuple[str, dict[str, MaskRef | str]]:
    """Mask set -> (set name, {image stem: MaskRef, or the error text for that image}).

    `shapes` (stem -> image (H, W)), when given, turns a size mismatch into that image's
    error at planning time; an unreadable mask file is also a per-image error.
    """
    name, folder = mask_set_dir(spec)
    files = {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".png"}
    out: dict[str, MaskRef | str] = {}
    for stem in stems:
        if stem not in files:
            out[stem] = f"no mask {folder / (stem + '.png')} for image '{stem}' in mask set '{name}'"
            continue
        try:
            pixels = read_mask_u8(files[stem])
        except BenchError as exc:
            out[stem] = str(exc)
            continue
        want = (shapes or {}).get(stem)
        if want is not None and pixels.shape != tuple(want):
            out[stem] = _size_error(files[stem], pixels.shape, want)
        elif not pixels.any():
            out[stem] = f"mask {files[stem]} is all zero (no ROI); ROI metrics are undefined for it"
        else:
            out[stem] = MaskRef(name, str(files[stem]), hashlib.sha256(pixels.tobytes()).hexdigest())
    return name, out
