"""Where things live: the project folders (codecs/, datasets/, masks/) and the data roots."""

from __future__ import annotations

import os
from pathlib import Path

# The repository root: `bench/` sits directly inside it (editable install).
PROJECT_ROOT = Path(os.environ.get("BENCH_HOME", Path(__file__).resolve().parent.parent))

CODECS_DIR = PROJECT_ROOT / "codecs"
DATASET_MANIFESTS_DIR = PROJECT_ROOT / "datasets"
MASKS_DIR = PROJECT_ROOT / "masks"
REFERENCE_RESULTS_DIR = PROJECT_ROOT / "results" / "reference"
DEFAULT_OUT = Path("results")


def cache_dir() -> Path:
    base = os.environ.get("BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "bench")
    return Path(base)


def data_root() -> Path:
    """Where named datasets are looked up and downloaded to (`BENCH_DATA`)."""
    env = os.environ.get("BENCH_DATA")
    return Path(env) if env else cache_dir() / "datasets"


def check_writable_dir(folder: Path) -> None:
    """Make the folder and prove a file can be created in it (permission bits alone do not
    tell: root, read-only mounts, ACLs); raises OSError otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-test-{os.getpid()}"
    probe.touch()
    probe.unlink()
