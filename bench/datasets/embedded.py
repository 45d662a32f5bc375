"""The embedded default dataset: colour photos shipped inside scikit-image (no download)."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import BenchError
from ..image import atomic_write, png_bytes
from ..paths import cache_dir
from .manifest import Manifest


def materialize(manifest: Manifest) -> Path:
    """Write the embedded images as PNG files once, so every stage can read them by path."""
    folder = cache_dir() / "embedded" / manifest.name
    try:
        module = importlib.import_module(manifest.source["module"])
    except ImportError as exc:
        raise BenchError(f"embedded dataset '{manifest.name}' needs {manifest.source['module']} ({exc}); "
                         "install the project's requirements") from None
    for fn in manifest.source["functions"]:
        target = folder / f"{fn}.png"
        if not target.exists():
            atomic_write(target, png_bytes(getattr(module, fn)()))
    return folder
