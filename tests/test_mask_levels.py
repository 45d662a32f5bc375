"""Importance map -> level map (the ROI paper's timestep map t) -> latent-resolution pooling."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.masks.generators import make_mask
from bench.masks.levels import (
    block_pixel_counts,
    level_map,
    pool_to_latent,
    timestep_map,
)


def test_level_map_puts_roi_and_background_levels_and_interpolates():
    imp = np.array([[0.0, 0.25, 0.5, 1.0]])
    assert np.allclose(level_map(imp, roi_level=5, bg_level=50), [[50, 38.75, 27.5, 5]])
    assert np.array_equal(level_map(imp, 5, 50, integer=True), [[50, 39, 28, 5]])


def test_timestep_map_defaults_to_the_papers_high_and_low_rate_pair():
    # ROI paper Appendix C: high rate t = 5 (ROI), low rate t = 50 (background).
    t = timestep_map(make_mask("left-half", np.zeros((4, 6, 3), np.uint8)))
    assert t.dtype == np.int64
    assert (t[:, :3] == 5).all() and (t[:, 3:] == 50).all()


def test_level_map_rejects_maps_outside_unit_range():
    with pytest.raises(BenchError, match=r"\[0, 1\]"):
        level_map(np.array([[0.0, 1.5]]), 5, 50)
    with pytest.raises(BenchError, match="HxW"):
        level_map(np.zeros((2, 2, 3)), 5, 50)


@pytest.mark.parametrize("method", ["foveated", "random", "saliency"])
def test_pooling_keeps_the_mean_when_the_factor_divides_the_size(method):
    img = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    t = level_map(make_mask(method, img, seed=3, key="x"), 5, 50)
    latent = pool_to_latent(t, 8)
    assert latent.shape == (8, 12)
    assert latent.mean() == pytest.approx(t.mean(), rel=1e-12)
    assert latent[0, 0] == pytest.approx(t[:8, :8].mean())


def test_pooling_edge_blocks_average_only_real_pixels_and_keep_the_weighted_mean():
    m = np.arange(15, dtype=float).reshape(3, 5)
    p = pool_to_latent(m, 2)
    assert p.shape == (2, 3)
    assert np.allclose(p, [[(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 9) / 2],
                           [(10 + 11) / 2, (12 + 13) / 2, 14]])
    w = block_pixel_counts(m.shape, 2)
    assert (p * w).sum() / w.sum() == pytest.approx(m.mean())


def test_pooling_a_constant_map_is_constant_and_factor_one_is_identity():
    assert np.all(pool_to_latent(np.full((17, 9), 7.0), 4) == 7.0)
    m = np.random.default_rng(1).random((5, 7))
    assert np.array_equal(pool_to_latent(m, 1), m)
    with pytest.raises(BenchError, match="positive integer"):
        pool_to_latent(m, 0)
