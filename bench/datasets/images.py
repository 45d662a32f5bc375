"""Image items of a dataset: decoded once at planning time to get their pixel hash."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import BenchError
from ..image import IMAGE_SUFFIXES, load_rgb, pixel_sha256
from ..paths import cache_dir


@dataclass(frozen=True)
class ImageItem:
    name: str          # file stem: the image's name in tables and mask pairing
    path: str
    pixel_hash: str
    height: int
    width: int


class PixelHashCache:
    """(path, size, mtime) -> (pixel hash, H, W), so large datasets are decoded once, not every run."""

    def __init__(self, file: Path | None = None):
        self.file = file or cache_dir() / "pixel-hashes.json"
        try:
            self.data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.dirty = False

    def lookup(self, path: Path) -> ImageItem:
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        hit = self.data.get(key)
        if hit is None:
            arr = load_rgb(path)
            hit = [pixel_sha256(arr), int(arr.shape[0]), int(arr.shape[1])]
            self.data[key] = hit
            self.dirty = True
        return ImageItem(path.stem, str(path.resolve()), hit[0], hit[1], hit[2])

    def save(self) -> None:
        if self.dirty:
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.file.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self.data))
                os.replace(tmp, self.file)
            except OSError:
                pass  # a cache that cannot be written only costs time


def scan_folder(folder: Path) -> tuple[list[ImageItem], list[tuple[str, str]]]:
    """All images in a folder (sorted by name); unreadable ones are returned as (path, reason)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    cache = PixelHashCache()
    items, skipped = [], []
    for path in files:
        try:
            items.append(cache.lookup(path))
        except BenchError as exc:
            skipped.append((str(path), str(exc)))
    cache.save()
    return items, skipped
