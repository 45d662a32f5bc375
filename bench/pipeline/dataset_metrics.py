"""Dataset-level metrics (FID, KID) per (dataset, codec config, rate point, mask set).

Every group must cover the same images (the union over the run's groups of a dataset),
otherwise rate points would be compared over different image sets: a group with missing
images gets an error row instead of a value. Original-image patch features are computed
once per dataset and cached on disk, keyed by the images' pixel hashes and the network;
reconstruction features are computed once per group and shared by FID and KID.
Groups whose values are stored (for the same number of images) are skipped on re-runs.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import BenchError
from ..image import load_rgb, pixel_sha256
from ..paths import cache_dir
from ..store.schema import POINT_KEY, DatasetMetricRow, JobRow


def features_cache_dir() -> Path:
    return cache_dir() / "features"


def _group_key(job: JobRow) -> tuple:
    return tuple(getattr(job, k) or "" for k in POINT_KEY)


def _put(store, key: tuple, n_images: int, metric, value, detail=None, error=None) -> None:
    store.put_dataset_metric(DatasetMetricRow(*key, metric.name, value, n_images,
                                              json.dumps(detail or {}, default=str), error))


IMAGES_PER_CALL = 8     # Kodak: 64 patches per network call, so the extractor's batches fill


def _load_checked(path: Path, expect_hash: str | None = None) -> np.ndarray:
    image = load_rgb(path)
    if expect_hash and pixel_sha256(image) != expect_hash:
        raise BenchError(f"{path} changed since the run (pixel hash differs from the stored one); re-run the codecs")
    return image


def _features(metric, paths: list[tuple[Path, str | None]]) -> np.ndarray:
    """Patch features of the images, in order; several images per network call."""
    out = [metric.images_features([_load_checked(p, h) for p, h in paths[i:i + IMAGES_PER_CALL]])
           for i in range(0, len(paths), IMAGES_PER_CALL)]
    return np.concatenate(out) if out else np.zeros((0, 2048))


def reference_features(metric, refs: list[JobRow]) -> tuple[np.ndarray, str]:
    """Patch features of the original images (one row per patch), from the disk cache if present."""
    refs = sorted(refs, key=lambda j: j.image_hash)
    digest = hashlib.sha256()
    digest.update(metric.feature_key.encode())
    for j in refs:
        digest.update(j.image_hash.encode())
    key = digest.hexdigest()
    path = features_cache_dir() / f"{key}.npy"
    if path.exists():
        try:
            return np.load(path), key
        except (OSError, ValueError):
            path.unlink(missing_ok=True)     # a torn write: recompute
    feats = _features(metric, [(Path(j.image_path), j.image_hash) for j in refs])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, feats)
    tmp.replace(path)
    return feats, key


def run_distribution_metrics(store, jobs: list[JobRow], metrics: list, device: str,
                             progress: Callable[[int], None] | None = None) -> None:
    if not metrics or not jobs:
        return
    for m in metrics:
        store.put_metric_info(m.name, {**m.metadata(), "region": "dataset"}, m.versions())
    groups: dict[tuple, list[JobRow]] = defaultdict(list)
    expected: dict[tuple, dict[str, JobRow]] = defaultdict(dict)   # (dataset, mask_set) -> image -> a job
    for j in jobs:
        groups[_group_key(j)].append(j)
        expected[(j.dataset, j.mask_set or "")].setdefault(j.image, j)

    for key, group in sorted(groups.items()):
        dataset, mask_set = key[0], key[4]
        stored = store.dataset_metric_counts(key)
        todo = [m for m in metrics if stored.get(m.name) != len(group)]
        refs = expected[(dataset, mask_set)]
        missing = sorted(set(refs) - {j.image for j in group})
        n = len(group)
        if todo and missing:
            why = (f"{len(missing)} of {len(refs)} images have no reconstruction at this rate point "
                   f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); dataset-level metrics "
                   "need the same images at every rate point: fix or re-run the failed jobs")
            for m in todo:
                _put(store, key, n, m, None, error=why)
            todo = []
        by_feature_key: dict[str, list] = defaultdict(list)
        for m in todo:
            by_feature_key[m.feature_key].append(m)
        for shared in by_feature_key.values():
            try:
                ref_feats, cache_key = reference_features(shared[0], list(refs.values()))
                ordered = sorted(group, key=lambda j: j.image_hash)
                dist_feats = _features(shared[0], [(store.abspath(j.recon_path), None) for j in ordered])
            except Exception as exc:   # a missing/corrupt file: record it, keep the run going
                for m in shared:
                    _put(store, key, n, m, None,
                         error=str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}")
                continue
            for m in shared:
                try:
                    value, detail = m.from_features(ref_feats, dist_feats)
                    _put(store, key, n, m, value, {**detail, "n_images": n, "reference_features": cache_key})
                except Exception as exc:
                    _put(store, key, n, m, None, error=f"{type(exc).__name__}: {exc}")
        if progress:
            progress(1)

