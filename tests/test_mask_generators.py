"""Mask generators: determinism, size, requested ROI fraction, and what each method means."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.masks.generators import (
    binary_fraction,
    discover_generators,
    get_generator,
    image_rng,
    make_mask,
    roi_fraction,
    to_u8,
    top_fraction,
)

H, W = 120, 160
METHODS = sorted(discover_generators())
WITH_FRACTION = [m for m in METHODS if discover_generators()[m].fraction_param]
RANDOM = [m for m in METHODS if m.startswith("random")]


def textured(h=H, w=W, seed=0):
    """Grey noise with a red disk: something for the saliency models to find."""
    rng = np.random.default_rng(seed)
    img = np.clip(120 + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (yy - h // 3) ** 2 + (xx - 5 * w // 8) ** 2 <= (h // 6) ** 2
    img[disk] = (220, 30, 30)
    return img, disk


def stored(mask):
    """What a mask set keeps on disk, read back as [0, 1]."""
    return to_u8(mask) / 255.0


def test_the_issue_methods_are_registered():
    assert {"saliency", "centre-box", "foveated", "left-half", "right-half", "random-rect",
            "random-circle", "random-grid", "random-voronoi", "random"} <= set(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_given_seed_and_image_size(method):
    img, _ = textured()
    a = make_mask(method, img, seed=7, key="img-a")
    b = make_mask(method, img, seed=7, key="img-a")
    assert a.shape == (H, W) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.max() > 0


@pytest.mark.parametrize("method", RANDOM)
def test_random_maps_depend_on_seed_and_image_key(method):
    img = np.zeros((H, W, 3), np.uint8)
    base = make_mask(method, img, seed=1, key="a")
    assert any(not np.array_equal(base, make_mask(method, img, seed=s, key="a")) for s in (2, 3, 4))
    assert any(not np.array_equal(base, make_mask(method, img, seed=1, key=k)) for k in ("b", "c", "d"))


def test_image_rng_is_per_image_not_per_call_order():
    first = image_rng(3, "kodim05").random(4)
    image_rng(3, "kodim01").random(100)           # another image drawn in between
    assert np.array_equal(first, image_rng(3, "kodim05").random(4))


@pytest.mark.parametrize("method", WITH_FRACTION)
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.6])
def test_requested_roi_fraction_within_two_points(method, fraction):
    img, _ = textured()
    m = stored(make_mask(method, img, fraction=fraction))
    assert abs(roi_fraction(m) - fraction) <= 0.02


@pytest.mark.parametrize("method", ["saliency", "centre-box"])
def test_binary_methods_are_binary_so_both_fraction_definitions_agree(method):
    img, _ = textured()
    m = stored(make_mask(method, img, fraction=0.3))
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert roi_fraction(m) == binary_fraction(m)


def test_top_fraction_is_exact_even_with_ties():
    score = np.zeros((10, 10))                     # all tied
    score[0, :3] = 1.0
    m = top_fraction(score, 0.37)
    assert m.sum() == 37 and m[0, :3].all()        # the 3 highest first, then raster order


def test_saliency_finds_the_salient_object():
    img, disk = textured()
    m = make_mask("saliency", img, fraction=float(disk.mean()))
    assert (m * disk).sum() / m.sum() > 0.9        # fine-grained (default): the ROI is the disk
    sr = make_mask("saliency", img, fraction=float(disk.mean()), algorithm="spectral-residual")
    assert (sr * disk).sum() / sr.sum() > 3 * disk.mean()   # well above chance


def test_centre_box_is_a_centred_box():
    m = make_mask("centre-box", np.zeros((100, 200, 3), np.uint8), fraction=0.25)
    ys, xs = np.nonzero(m)
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (25, 75, 50, 150)
    assert m[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()


def test_halves_split_the_image_at_the_middle_column():
    img = np.zeros((10, 21, 3), np.uint8)
    left, right = make_mask("left-half", img), make_mask("right-half", img)
    assert left[:, :10].all() and not left[:, 10:].any()
    assert right[:, 11:].all() and not right[:, :11].any()
    img = np.zeros((10, 20, 3), np.uint8)
    assert roi_fraction(make_mask("left-half", img)) == 0.5
    assert np.array_equal(make_mask("left-half", img), 1 - make_mask("right-half", img))


def test_foveated_peaks_at_fixation_and_falls_off_radially():
    m = make_mask("foveated", np.zeros((101, 151, 3), np.uint8), fraction=0.3)
    assert m[50, 75] == m.max() == 1.0
    row = m[50, 75:]
    assert np.all(np.diff(row) <= 0) and row[-1] < 0.2
    assert np.allclose(m, m[::-1, ::-1])            # symmetric about the centre
    off = make_mask("foveated", np.zeros((101, 151, 3), np.uint8), fraction=0.3, cx=0.2, cy=0.8)
    peak = np.argwhere(off == 1.0).mean(axis=0)     # centre of the top plateau
    assert np.allclose(peak, (0.8 * 101 - 0.5, 0.2 * 151 - 0.5), atol=1.0)


def test_foveated_levels_quantise_to_rings():
    m = make_mask("foveated", np.zeros((H, W, 3), np.uint8), fraction=0.3, levels=4)
    rings = np.array([0, 1 / 3, 2 / 3, 1])
    assert len(np.unique(m)) == 4
    assert all(np.abs(rings - v).min() <= 0.5 / 255 for v in np.unique(m))
    assert abs(roi_fraction(stored(m)) - 0.3) <= 0.02


@pytest.mark.parametrize("method", ["random-rect", "random-circle", "random-grid", "random-voronoi"])
def test_random_region_maps_are_regions_on_a_canvas(method):
    img = np.zeros((H, W, 3), np.uint8)
    grid = np.linspace(0, 1, 5)
    for seed in range(5):
        m = make_mask(method, img, seed=seed, key="x")
        values = np.unique(m)
        assert np.all(np.isin(np.round(values, 6), np.round(grid, 6)))  # only the 5 levels
        assert 2 <= len(values)                      # regions differ from the canvas


def test_random_mix_follows_the_papers_constant_probability():
    # ROI paper Sec. 5: constant maps with probability 0.15; the rest are region maps.
    img = np.zeros((32, 32, 3), np.uint8)
    n = 200
    constant = sum(len(np.unique(make_mask("random", img, seed=s, key="k"))) == 1 for s in range(n))
    assert 0.07 * n <= constant <= 0.23 * n          # 0.15 +- ~3 binomial sd
    assert all(len(np.unique(make_mask("random", img, seed=s, key="k", p_constant=1.0))) == 1
               for s in range(5))


def test_bad_method_and_parameters_are_clear_errors():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(BenchError, match="did you mean 'saliency'"):
        make_mask("salency", img)
    with pytest.raises(BenchError, match="no parameter radius.*fraction"):
        make_mask("centre-box", img, radius=3)
    with pytest.raises(BenchError, match="between 0 and 1"):
        make_mask("centre-box", img, fraction=1.5)
    with pytest.raises(BenchError, match="algorithm must be one of"):
        make_mask("saliency", img, algorithm="deep")
    with pytest.raises(BenchError, match="is not a float"):
        get_generator("foveated").resolve_params({"fraction": "lots"})
    assert get_generator("foveated").resolve_params({"fraction": "0.4", "levels": "3"}) == \
        {"fraction": 0.4, "levels": 3, "cx": 0.5, "cy": 0.5}
