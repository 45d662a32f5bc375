"""--limit-images N: the first N images (by name) of a dataset, copied into a folder named
like the dataset, so the stored dataset name stays the paper's and results of a quick
check and of the full run share cache keys (keys hash pixels, not paths)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..datasets import Dataset

SUBSET_DIR = "protocol-subsets"


def subset_folder(dataset: Dataset, limit: int, out: Path) -> Path:
    folder = Path(out) / SUBSET_DIR / f"first{limit}" / dataset.name
    folder.mkdir(parents=True, exist_ok=True)
    chosen = sorted(dataset.images, key=lambda i: i.name)[:limit]
    keep = {Path(i.path).name for i in chosen}
    for stale in folder.iterdir():
        if stale.name not in keep:
            stale.unlink()
    for item in chosen:
        target = folder / Path(item.path).name
        if not target.exists():
            shutil.copy2(item.path, target)
    return folder
