"""Training images: random crops (with horizontal flips) from a folder or a dataset name.

Crops are a pure function of (seed, step), so a resumed run sees the batches an
uninterrupted one would. Decoded images are kept in memory up to a budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BenchError

CACHE_BYTES = 2 << 30


class TrainImages:
    def __init__(self, spec: str):
        """A dataset name, or a folder: its images and those of its subfolders (BSDS500's
        train/val/test, an ImageNet class tree, ...)."""
        from ..datasets.resolve import resolve_dataset
        from ..image import IMAGE_SUFFIXES
        root = Path(spec).expanduser()
        folders = [spec]
        if root.is_dir():
            folders = sorted({str(p.parent) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES})
            if not folders:
                raise BenchError(f"--data {spec}: no images (.png, .jpg, ...) in it or its subfolders")
        self.paths: list[str] = []
        for folder in folders:
            ds = resolve_dataset(folder)
            if ds.manifest is not None and ds.manifest.split == "test":
                raise BenchError(f"'{folder}' is the test set '{ds.manifest.name}': a codec trained on it cannot "
                                 "be evaluated on it; train on other images (e.g. BSDS500, DIV2K-train, Open Images)")
            self.paths += [i.path for i in ds.images]
        self.name = root.name if root.is_dir() else spec
        self._cache: dict[str, np.ndarray] = {}
        self._cached = 0

    def __len__(self) -> int:
        return len(self.paths)

    def _image(self, path: str) -> np.ndarray:
        im = self._cache.get(path)
        if im is None:
            from ..image import load_rgb
            im = load_rgb(path)
            if self._cached + im.nbytes <= CACHE_BYTES:
                self._cache[path] = im
                self._cached += im.nbytes
        return im

    def crops(self, step: int, batch: int, size: int, seed: int = 0):
        """Bx3xSxS float tensor in [0, 1]; images smaller than the crop are edge-padded."""
        import torch
        rng = np.random.default_rng([seed, step])
        out = np.empty((batch, size, size, 3), np.uint8)
        for b in range(batch):
            im = self._image(self.paths[rng.integers(len(self.paths))])
            h, w = im.shape[:2]
            if h < size or w < size:
                im = np.pad(im, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="edge")
                h, w = im.shape[:2]
            y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
            crop = im[y:y + size, x:x + size]
            out[b] = crop[:, ::-1] if rng.random() < 0.5 else crop
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)
