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


HIGH_BIT_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def _raw_mode(img: Image.Image) -> str:
    """The mode the file stores, before Pillow converts it (a 48-bit PNG opens as 8-bit 'RGB')."""
    args = img.tile[0].args if img.tile else None
    return args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args and
                                               isinstance(args[0], str) else img.mode)


def check_supported(img: Image.Image, name: str) -> None:
    """Call before img.load(). One rule for every bit depth: the suite measures 8-bit RGB, and
    cutting 16 bits to 8 would change the reference behind the user's back, so 16-bit images
    (grey or colour) are refused."""
    raw = _raw_mode(img)
    if img.mode in HIGH_BIT_DEPTH_MODES or ";16" in raw or raw.endswith("16"):
        raise BenchError(f"{name}: 16-bit image ({raw}); the suite measures 8-bit RGB and does not cut bit depth "
                         f"silently: convert it to 8 bits per channel first")


def to_rgb_array(img: Image.Image, name: str = "image") -> np.ndarray:
    if img.mode in HIGH_BIT_DEPTH_MODES:
        check_supported(img, name)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        if (alpha < 255).any():
            raise BenchError(f"{name}: has transparency ({int((alpha < 255).sum())} pixels with alpha < 255); codecs "
                             f"and metrics here see RGB only and would drop it: flatten it onto a background first")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to HxWx3 uint8 RGB; a corrupt file is a BenchError naming it."""
    try:
        with Image.open(path) as img:
            check_supported(img, str(path))
            img.load()
            return to_rgb_array(img, str(path))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BenchError(f"cannot read image {path}: {exc}; replace or remove the file") from None


def decode_rgb_bytes(data: bytes, name: str = "decoded image") -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        check_supported(img, name)
        img.load()
        return to_rgb_array(img, name)


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
