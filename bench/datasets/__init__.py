"""Datasets: manifests (datasets/*.toml), resolution of `--dataset`, the embedded default, downloads."""

from .images import ImageItem
from .manifest import Manifest, load_manifests
from .resolve import DEFAULT_DATASET, Dataset, resolve_dataset

__all__ = ["ImageItem", "Manifest", "Dataset", "load_manifests", "resolve_dataset", "DEFAULT_DATASET"]
