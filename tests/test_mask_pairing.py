"""Mask sets on disk: pairing with images by stem and its errors, the `bench masks` commands,
overlays, and the shipped Kodak saliency set."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.image import load_rgb, pixel_sha256
from bench.masks.generators import make_mask, roi_fraction, to_u8
from bench.masks.manifest import read_manifest
from bench.masks.overlay import (
    LEVEL_COLOUR,
    ROI_COLOUR,
    draw_roi_outline,
    level_thresholds,
)
from bench.masks.pairing import MaskRef, load_mask, mask_sha256, pair_masks
from bench.paths import MASKS_DIR, PROJECT_ROOT, data_root

KODAK_STEMS = [f"kodim{i:02d}" for i in range(1, 25)]
SHIPPED = MASKS_DIR / "kodak-saliency"


def save_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def mask_set(tmp_path):
    folder = tmp_path / "my-set"
    m = np.zeros((6, 8), np.uint8)
    m[2:4, 2:6] = 255
    save_png(folder / "a.png", m)
    save_png(folder / "b.png", m[:, :6].copy())     # 6x6: the wrong size for an 8x6 image
    save_png(folder / "z.png", np.zeros((6, 8), np.uint8))
    (folder / "c.png").write_bytes(b"not a png")
    return folder


def test_pairing_by_stem_and_per_image_errors(mask_set):
    name, pairs = pair_masks(str(mask_set), ["a", "b", "c", "z", "missing"],
                             shapes={s: (6, 8) for s in ("a", "b", "c", "z", "missing")})
    assert name == "my-set"
    assert isinstance(pairs["a"], MaskRef)
    assert pairs["a"].sha256 == mask_sha256(mask_set / "a.png") == \
        hashlib.sha256(np.asarray(Image.open(mask_set / "a.png")).tobytes()).hexdigest()
    assert "is 6x6 but its image is 8x6" in pairs["b"]
    assert "cannot read mask" in pairs["c"] and "c.png" in pairs["c"]
    assert "all zero" in pairs["z"]
    assert pairs["missing"].startswith("no mask") and "'missing'" in pairs["missing"] \
        and "'my-set'" in pairs["missing"]


def test_pairing_without_shapes_keeps_the_old_behaviour(mask_set):
    _, pairs = pair_masks(str(mask_set), ["a", "b"])
    assert isinstance(pairs["b"], MaskRef)          # size is checked later by load_mask
    with pytest.raises(BenchError, match="is 6x6 but its image is 8x6; regenerate"):
        load_mask(pairs["b"].path, (6, 8))
    m = load_mask(pairs["a"].path, (6, 8))
    assert m.dtype == np.float32 and m.sum() == 8.0 and m.max() == 1.0


def test_unknown_mask_set_names_the_set_and_the_fix():
    with pytest.raises(BenchError, match="unknown ROI mask set 'nope'.*kodak-saliency.*bench masks make"):
        pair_masks("nope", ["kodim01"])


# --- the shipped Kodak set ----------------------------------------------------------

def test_shipped_kodak_saliency_set_is_complete_and_matches_its_manifest():
    from bench.datasets import load_manifests
    man = read_manifest(SHIPPED)
    assert man["dataset"] == "kodak" and man["method"] == "saliency" and man["license"]
    assert man["command"].startswith("bench masks make --dataset kodak --method saliency "
                                     "--out kodak-saliency")
    assert sorted(p.stem for p in SHIPPED.glob("*.png")) == KODAK_STEMS == sorted(man["images"])
    kodak = {f.rsplit(".", 1)[0]: h for f, h in load_manifests()["kodak"].pixel_hashes.items()}
    target = man["parameters"]["fraction"]
    for stem, rec in man["images"].items():
        u8 = np.asarray(Image.open(SHIPPED / f"{stem}.png"))
        assert u8.shape == (rec["height"], rec["width"]) and {rec["height"], rec["width"]} == {512, 768}
        assert hashlib.sha256(u8.tobytes()).hexdigest() == rec["mask_sha256"]
        assert rec["image_pixel_sha256"] == kodak[stem]
        assert rec["roi_fraction"] == pytest.approx(roi_fraction(u8 / 255.0), abs=1e-6)
        assert abs(rec["roi_fraction"] - target) <= 0.02
        assert set(np.unique(u8)) <= {0, 255}


def _kodak_folder():
    for folder in (data_root() / "kodak", PROJECT_ROOT.parent / "shared" / "datasets" / "kodak"):
        if (folder / "kodim01.png").is_file():
            return folder
    return None


@pytest.mark.skipif(_kodak_folder() is None, reason="Kodak images not present (set BENCH_DATA)")
def test_shipped_masks_are_reproduced_by_the_recorded_method_and_parameters():
    man = read_manifest(SHIPPED)
    for stem in ("kodim04", "kodim23"):                 # one portrait, one landscape
        image = load_rgb(_kodak_folder() / f"{stem}.png")
        assert pixel_sha256(image) == man["images"][stem]["image_pixel_sha256"]
        again = to_u8(make_mask(man["method"], image, seed=man["seed"], key=stem, **man["parameters"]))
        assert np.array_equal(again, np.asarray(Image.open(SHIPPED / f"{stem}.png")))


# --- bench masks make / show / list -------------------------------------------------

@pytest.fixture
def image_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for stem, (h, w) in {"one": (48, 64), "two": (64, 48)}.items():
        save_png(tmp_path / "imgs" / f"{stem}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return tmp_path / "imgs"


def test_make_writes_masks_and_a_manifest_that_pairs(image_folder, tmp_path):
    out = tmp_path / "sets" / "boxes"
    res = CliRunner().invoke(app, ["masks", "make", "--dataset", str(image_folder), "--method", "centre-box",
                                   "--out", str(out), "--param", "fraction=0.3", "--seed", "4"])
    assert res.exit_code == 0, res.output
    man = read_manifest(out)
    assert man["parameters"] == {"fraction": 0.3} and man["seed"] == 4 and man["license"] == "CC0-1.0"
    assert man["command"] == (f"bench masks make --dataset {image_folder} --method centre-box "
                              f"--out {out} --seed 4 --param fraction=0.3")
    assert sorted(man["images"]) == ["one", "two"]
    assert (man["images"]["two"]["height"], man["images"]["two"]["width"]) == (64, 48)
    for rec in man["images"].values():
        assert abs(rec["roi_fraction"] - 0.3) <= 0.02
    _, pairs = pair_masks(str(out), ["one", "two"], shapes={"one": (48, 64), "two": (64, 48)})
    assert all(isinstance(r, MaskRef) for r in pairs.values())

    again = CliRunner().invoke(app, ["masks", "make", "--dataset", str(image_folder), "--method", "centre-box",
                                     "--out", str(out)])
    assert isinstance(again.exception, BenchError) and "--force" in str(again.exception)


def test_make_rejects_unknown_parameters(image_folder, tmp_path):
    res = CliRunner().invoke(app, ["masks", "make", "--dataset", str(image_folder), "--method", "foveated",
                                   "--out", str(tmp_path / "f"), "--param", "sigma=3"])
    assert isinstance(res.exception, BenchError) and "no parameter sigma" in str(res.exception)


def test_show_writes_an_overlay_with_the_roi_outline(image_folder, tmp_path):
    out = tmp_path / "sets" / "left"
    assert CliRunner().invoke(app, ["masks", "make", "--dataset", str(image_folder), "--method", "left-half",
                                    "--out", str(out)]).exit_code == 0
    png = tmp_path / "overlay.png"
    res = CliRunner().invoke(app, ["masks", "show", str(out), "one", "--output", str(png), "--dim", "0"])
    assert res.exit_code == 0, res.output
    overlay = np.asarray(Image.open(png))
    assert overlay.shape == (48, 64, 3)
    assert (overlay[:, 31] == ROI_COLOUR).all()     # inner boundary of the left half (columns 0..31)
    assert (overlay[:, 32] != ROI_COLOUR).any(axis=-1).all()


def test_list_shows_the_shipped_set_and_the_methods():
    res = CliRunner().invoke(app, ["masks", "list"])
    assert res.exit_code == 0, res.output
    assert "kodak-saliency" in res.output and "foveated" in res.output and "random-voronoi" in res.output


# --- overlays (also used by the report's gallery) -----------------------------------

def test_overlay_outlines_the_half_level_boundary_and_leaves_the_rest():
    img = np.full((20, 30, 3), 100, np.uint8)
    mask = np.zeros((20, 30), np.float32)
    mask[5:15, 10:20] = 1.0
    out = draw_roi_outline(img, mask)
    edge = np.all(out == ROI_COLOUR, axis=-1)
    assert edge[5, 10:20].all() and edge[14, 10:20].all() and edge[5:15, 10].all()
    assert edge.sum() == 2 * 10 + 2 * 8                   # exactly the box's inner ring
    assert (out[~edge] == 100).all() and out.dtype == np.uint8


def test_overlay_of_graded_maps_draws_level_contours_and_dims_by_importance():
    mask = np.zeros((20, 30), np.float32)
    mask[:, 10:20] = 0.25
    mask[:, 20:] = 1.0
    assert level_thresholds(mask) == [0.125]              # 0.25 -> 1.0 is the ROI outline itself
    out = draw_roi_outline(np.full((20, 30, 3), 200, np.uint8), mask, dim=0.5)
    assert (out[:, 10] == LEVEL_COLOUR).all() and (out[:, 20] == ROI_COLOUR).all()
    assert out[0, 0, 0] == 100 and out[0, 15, 0] == round(200 * (1 - 0.5 * 0.75)) and out[0, 25, 0] == 200
    with pytest.raises(BenchError, match="does not match"):
        draw_roi_outline(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5)))
