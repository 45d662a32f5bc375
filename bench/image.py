"""Reading, hashing and writing 8-bit RGB images (HxWx3 uint8 arrays)."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import BenchError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"}


def to_rgb_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I", "F"):
        raise BenchError(f"{getattr(img, 'filename', 'image')}: {img.mode} (high bit depth) "
                         "images are not supported; convert to 8-bit RGB first")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to HxWx3 uint8 RGB; a corrupt file is a BenchError naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb_array(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BenchError(f"cannot read image {path}: {exc}; replace or remove the file") from None


def decode_rgb_bytes(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return to_rgb_array(img)


def pixel_sha256(array: np.ndarray) -> str:
    """sha256 of the raw row-major HxWx3 uint8 bytes (as in the Kodak PIXEL_SHA256.txt)."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    return hashlib.sha256(arr.tobytes()).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file + rename, so a killed run never leaves a half-written artifact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)     # mkstemp makes 0600; results folders are shared and archived
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
