"""FID/KID: the HiFiC patch protocol, the formulas against clean-fid, the real network, the stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.image import pixel_sha256, png_bytes
from bench.metrics._patches import extract_patches, patch_origins
from bench.metrics.fid_kid import FID, KID, frechet_distance, kernel_inception_distance
from bench.pipeline.dataset_metrics import run_distribution_metrics
from bench.store import Store

from .conftest import job_row

KODAK = Path("/work/shared/datasets/kodak")
needs_kodak = pytest.mark.skipif(not (KODAK / "kodim01.png").is_file(), reason=f"Kodak not found at {KODAK}")


@pytest.mark.parametrize("h,w,n", [(512, 768, 8), (768, 512, 8), (256, 256, 1), (383, 1000, 3),
                                   (384, 384, 2), (255, 800, 0), (1024, 1024, 16 + 9)])
def test_patch_counts_follow_the_protocol(h, w, n):
    origins = patch_origins(h, w)
    assert len(origins) == n
    assert all(y + 256 <= h and x + 256 <= w for y, x in origins)
    assert len(set(origins)) == n


def test_patches_are_the_image_crops():
    img = np.random.default_rng(0).integers(0, 256, (512, 768, 3), dtype=np.uint8)
    patches = extract_patches(img)
    assert patches.shape == (8, 3, 256, 256) and patches.dtype == torch.uint8
    # the 7th patch is the first of the grid shifted by 128
    assert np.array_equal(patches[6].permute(1, 2, 0).numpy(), img[128:384, 128:384])


@needs_kodak
def test_kodak_gives_192_patches():
    sizes = [Image.open(p).size for p in sorted(KODAK.glob("kodim*.png"))]
    assert len(sizes) == 24
    counts = [len(patch_origins(h, w)) for w, h in sizes]
    assert set(counts) == {8} and sum(counts) == 192


@pytest.mark.parametrize("n1,n2,d", [(30, 40, 64), (200, 150, 32)])   # fewer and more samples than dims
def test_frechet_distance_matches_clean_fid(n1, n2, d):
    from cleanfid.fid import fid_from_feats
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(n1, d)), rng.normal(size=(n2, d)) * 1.3 + 0.2
    assert frechet_distance(x, y) == pytest.approx(fid_from_feats(x, y), rel=1e-6)
    assert abs(frechet_distance(x, x)) < 1e-8


def test_kid_is_clean_fids_estimator_seeded_and_may_be_negative():
    from cleanfid.fid import kernel_distance
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(60, 16)), rng.normal(size=(80, 16)) + 0.5
    np.random.seed(0)
    expected = kernel_distance(x, y, num_subsets=100, max_subset_size=1000)
    state = np.random.get_state()
    assert kernel_inception_distance(x, y) == expected == kernel_inception_distance(x, y)
    assert np.array_equal(np.random.get_state()[1], state[1])     # global generator left as it was
    # a set against itself: the unbiased estimate is below zero, and it is kept as is
    assert kernel_inception_distance(x, x) < 0


@pytest.fixture(scope="module")
def kodak_images():
    imgs = [np.asarray(Image.open(KODAK / f"kodim{i:02d}.png").convert("RGB")) for i in (3, 15)]
    return imgs


@needs_kodak
@pytest.mark.slow
def test_fid_and_kid_with_the_real_network(kodak_images):
    fid, kid = FID("cpu"), KID("cpu")
    rng = np.random.default_rng(3)
    ref = np.concatenate([fid.image_features(im) for im in kodak_images])
    assert ref.shape == (16, 2048) and np.isfinite(ref).all() and (ref >= 0).all()   # pool of ReLUs
    values = []
    for sigma in (0, 8, 32):
        noisy = [np.clip(im + rng.normal(0, sigma, im.shape), 0, 255).round().astype(np.uint8)
                 for im in kodak_images] if sigma else kodak_images
        dist = np.concatenate([fid.image_features(im) for im in noisy])
        values.append((fid.from_features(ref, dist)[0], kid.from_features(ref, dist)))
    (fid0, _), (fid8, (kid8, detail)), (fid32, (kid32, _)) = values
    assert abs(fid0) < 1e-6
    assert 0 < fid8 < fid32
    assert kid8 < kid32
    assert detail["subset_size"] == 16 and detail["subsets"] == 100 and detail["n_patches"] == 16


def test_inception_network_is_the_fid_graph():
    """The TF FID graph (as pytorch-fid's FIDInception blocks rebuild it): the second-to-last
    block's pool branch averages without counting padding, the last block's takes the max."""
    from bench import weights as W
    from bench.weights.carriers import inception_layers, load_torchscript
    layers = inception_layers(load_torchscript(W.resolve("inception-fid").path))
    assert layers.mixed_10.tower_2_pool.original_name == "MaxPool2d"       # FIDInceptionE_2
    assert layers.mixed_9.tower_2_pool.original_name == "AvgPool2d"        # FIDInceptionE_1 ...
    assert "avg_pool2d(input, [3, 3], [1, 1], [1, 1], False, False)" in layers.mixed_9.tower_2_pool.code
    with torch.no_grad():
        out = layers(torch.zeros(1, 3, 299, 299))
    assert out.reshape(-1).shape == (2048,)


# --- the stage ----------------------------------------------------------------------------

class PatchMeanMetric(FID):
    """FID over a stand-in feature (per-patch channel means and deviations) so the stage's bookkeeping is
    tested in seconds; the real network is tested above."""
    name = "fid"

    def __init__(self):
        self.device = "cpu"
        self.calls = 0
        self.reset()

    @property
    def feature_key(self):
        return "patch-means"

    def image_features(self, image):
        self.calls += 1
        p = extract_patches(image).double()
        return torch.cat([p.mean((2, 3)), p.std((2, 3))], 1).numpy()

    def images_features(self, images):
        return np.concatenate([self.image_features(im) for im in images])

    def from_features(self, ref, dist):
        return frechet_distance(ref, dist), {"n_patches": len(dist)}

    def versions(self):
        return {}


def _job(store_root: Path, image: str, ref: np.ndarray, recon: np.ndarray, setting: str, ref_dir: Path):
    ref_path = ref_dir / f"{image}.png"
    if not ref_path.exists():
        ref_path.write_bytes(png_bytes(ref))
    rel = f"artifacts/{setting}/{image}.png"
    (store_root / rel).parent.mkdir(parents=True, exist_ok=True)
    (store_root / rel).write_bytes(png_bytes(recon))
    return job_row(key=f"{setting}-{image}", dataset="toy", codec="noise", config_hash="c0", setting=setting,
                   mask_set=None, image=image, image_hash=pixel_sha256(ref), image_path=str(ref_path),
                   recon_path=rel, status="ok")


def test_stage_groups_caches_resumes_and_flags_missing_images(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(4)
    refs = {f"im{i}": rng.integers(0, 256, (384, 512, 3), dtype=np.uint8) for i in range(3)}
    store = Store(tmp_path / "out")
    (tmp_path / "refs").mkdir()
    jobs = []
    for setting, sigma in (("q=1", 40), ("q=2", 5)):
        for name, ref in refs.items():
            noisy = np.clip(ref + rng.normal(0, sigma, ref.shape), 0, 255).astype(np.uint8)
            jobs.append(_job(store.root, name, ref, noisy, setting, tmp_path / "refs"))
    jobs.append(_job(store.root, "im0", refs["im0"], refs["im0"], "q=3", tmp_path / "refs"))  # 2 images missing
    metric = PatchMeanMetric()
    progress = []
    run_distribution_metrics(store, jobs, [metric], "cpu", progress.append)
    rows = {r["setting"]: r for r in store.dataset_metrics_frame().to_dict("records")}
    assert rows["q=1"]["value"] > rows["q=2"]["value"] > 0
    assert rows["q=1"]["n_images"] == 3
    assert rows["q=3"]["value"] is None or np.isnan(rows["q=3"]["value"])
    assert "2 of 3 images" in rows["q=3"]["error"]
    assert len(progress) == 3
    # originals computed once (cached for the dataset), reconstructions once per group
    assert metric.calls == 3 + 3 + 3
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 1
    # a re-run skips the stored groups; the failed one is retried (and fails again)
    metric.calls = 0
    run_distribution_metrics(store, jobs, [metric], "cpu")
    assert metric.calls == 0
    store.close()
