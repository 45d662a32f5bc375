"""FID and KID over 256x256 patches (HiFiC protocol), one value per (codec, rate point).

Features: _inception.py (network, resize, input range); patches: _patches.py. KID is
clean-fid's estimator (polynomial kernel, unbiased MMD^2, 100 subsets of
min(1000, #patches)) under a fixed seed; it can be negative when the sets are close.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

import numpy as np
import torch

from ._inception import PROTOCOL, shared_extractor
from ._patches import extract_patches, to_uint8
from ._weighted import WeightedNetwork
from .base import DistributionMetric, register_metric

KID_SUBSETS = 100
KID_MAX_SUBSET = 1000
KID_SEED = 0


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr sqrtm(S1 S2) for S1 = a^T a, S2 = b^T b (a, b: centred features / sqrt(n - 1)).

    Written out because scipy's sqrtm of the 2048x2048 product (clean-fid, pytorch-fid)
    takes a minute on a small CPU: the eigenvalues of S1 S2 are the squared singular values
    of a b^T (n1 x n2), and with more samples than dimensions of S1^1/2 S2 S1^1/2 (symmetric).
    """
    if min(len(a), len(b)) <= a.shape[1]:
        return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    evals, evecs = np.linalg.eigh(a.T @ a)
    s1_half = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(s1_half @ (b.T @ b) @ s1_half), 0, None)).sum())


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID between two feature sets (rows = samples), covariances as np.cov (n - 1)."""
    if len(f1) < 2 or len(f2) < 2:
        raise ValueError("FID needs at least 2 samples per set")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a = (f1 - mu1) / np.sqrt(len(f1) - 1)
    b = (f2 - mu2) / np.sqrt(len(f2) - 1)
    value = np.sum((mu1 - mu2) ** 2) + np.sum(a * a) + np.sum(b * b) - 2 * _trace_sqrt_product(a, b)
    return float(value)


@contextlib.contextmanager
def _numpy_seed(seed: int):
    """clean-fid draws KID subsets from numpy's global generator: seed it, then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def kernel_inception_distance(f1: np.ndarray, f2: np.ndarray, subsets: int = KID_SUBSETS,
                              max_subset: int = KID_MAX_SUBSET, seed: int = KID_SEED) -> float:
    from cleanfid.fid import kernel_distance
    if min(len(f1), len(f2)) < 2:
        raise ValueError("KID needs at least 2 samples per set")
    with _numpy_seed(seed):
        return kernel_distance(f1, f2, num_subsets=subsets, max_subset_size=max_subset)


class _PatchDistribution(WeightedNetwork, DistributionMetric):
    libraries = ("clean-fid", "pyiqa", "torch")
    packages = (("cleanfid", "clean-fid"), ("pyiqa", "pyiqa"))
    """Shared by FID and KID: patches -> Inception features -> a value from both feature sets."""
    weights = ("inception-fid",)
    supports_mask = False
    mask_note = "dataset-level metric: no ROI/background variant"
    protocol: ClassVar[str] = PROTOCOL

    def __init__(self, device: str = "cpu"):
        super().__init__(device)
        self.extractor = shared_extractor(device)
        self.reset()

    @property
    def feature_key(self) -> str:
        """Metrics with the same key can share features (the stage computes them once)."""
        return f"{self.extractor.network_sha256}|{self.protocol}"

    def image_features(self, image: np.ndarray) -> np.ndarray:
        return self.extractor(extract_patches(image))

    def images_features(self, images: list[np.ndarray]) -> np.ndarray:
        """Rows in image order; the patches of all images share the network's batches."""
        return self.extractor(torch.cat([extract_patches(im) for im in images])) if images else np.zeros((0, 2048))

    def reset(self) -> None:
        self._ref: list[np.ndarray] = []
        self._dist: list[np.ndarray] = []

    def update(self, ref, dist) -> None:
        for r, d in zip(to_uint8(ref), to_uint8(dist)):
            self._ref.append(self.image_features(r))
            self._dist.append(self.image_features(d))

    def compute(self) -> float:
        return self.from_features(np.concatenate(self._ref), np.concatenate(self._dist))[0]

    def from_features(self, ref: np.ndarray, dist: np.ndarray) -> tuple[float, dict]:
        raise NotImplementedError

    def versions(self):
        return {**super().versions(), "protocol": self.protocol}


@register_metric
class FID(_PatchDistribution):
    name = "fid"
    higher_is_better = False
    value_range = (0.0, float("inf"))
    label = "FID/256 (HiFiC patches)"

    def from_features(self, ref, dist):
        return frechet_distance(ref, dist), {"n_patches": len(dist), "n_ref_patches": len(ref),
                                             "network_sha256": self.extractor.network_sha256,
                                             "protocol": self.protocol}


@register_metric
class KID(_PatchDistribution):
    name = "kid"
    higher_is_better = False
    value_range = (float("-inf"), float("inf"))   # the unbiased estimate is negative near 0
    label = "KID/256 (HiFiC patches)"

    def from_features(self, ref, dist):
        subset = min(KID_MAX_SUBSET, len(ref), len(dist))
        value = kernel_inception_distance(ref, dist)
        return value, {"n_patches": len(dist), "n_ref_patches": len(ref), "subset_size": subset,
                       "subsets": KID_SUBSETS, "seed": KID_SEED,
                       "network_sha256": self.extractor.network_sha256, "protocol": self.protocol}
