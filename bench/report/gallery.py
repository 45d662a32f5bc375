"""Visual gallery: for chosen images, the same crop of each codec's reconstruction at the
rate point closest to a chosen bpp, next to the original (with the ROI outline when the
run used a mask set). Reads stored reconstructions; never re-runs a codec."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ..analysis.plots import slug
from ..image import load_rgb

DEFAULT_CROP = 256
OVERVIEW = 256          # the overview thumbnail fits this square, like a default crop
CAPTION_METRICS = 3     # how many per-image metric values a tile caption shows


@dataclass
class Tile:
    label: str
    src: str                     # path relative to the report folder
    caption: list[str] = field(default_factory=list)


@dataclass
class GalleryItem:
    dataset: str
    image: str
    mask_set: str
    target_bpp: float
    box: tuple[int, int, int, int]          # x, y, width, height of the crop
    overview: str | None = None
    tiles: list[Tile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _outliner():
    """draw_roi_outline from the masks package when present (it may land later)."""
    try:
        from ..masks.overlay import draw_roi_outline
        return draw_roi_outline
    except ImportError:
        return None


def default_target_bpp(points: pd.DataFrame, dataset: str, mask_set: str) -> float:
    """The lowest bpp every run codec reaches: artefacts are most visible there and all
    codecs have a point near it."""
    sel = points[(points["dataset"] == dataset) & (points["mask_set"] == mask_set) & ~points["reference"]]
    lows = sel.groupby("label")["bpp"].min().dropna()
    return float(lows.max()) if len(lows) else math.nan


def crop_box(height: int, width: int, size: int, mask: np.ndarray | None = None,
             centre: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """A size x size box (clipped to the image) centred on `centre` (x, y), else on the
    ROI's centre of mass, else on the image centre."""
    size = int(min(size, height, width))
    if centre is None and mask is not None and mask.sum() > 0:
        ys, xs = np.indices(mask.shape) + 0.5      # pixel centres, so a box is centred exactly
        centre = ((xs * mask).sum() / mask.sum(), (ys * mask).sum() / mask.sum())
    cx, cy = centre if centre is not None else (width / 2, height / 2)
    x = int(np.clip(round(cx - size / 2), 0, width - size))
    y = int(np.clip(round(cy - size / 2), 0, height - size))
    return x, y, size, size


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(path, format="PNG", compress_level=6)


def _crop(array: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return array[y:y + h, x:x + w]


def _overview(original: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The whole image shrunk to fit OVERVIEW x OVERVIEW, with the crop box drawn in red."""
    img = Image.fromarray(original)
    scale = OVERVIEW / max(img.width, img.height)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
    x, y, w, h = (round(v * scale) for v in box)
    ImageDraw.Draw(img).rectangle([x, y, x + w - 1, y + h - 1], outline=(255, 40, 40), width=2)
    return np.asarray(img)


def build_gallery(store, points: pd.DataFrame, jobs: pd.DataFrame, dataset: str, mask_set: str,
                  images: list[str] | None, target_bpp: float | None, out_dir: Path, *,
                  crop: int = DEFAULT_CROP, centre: tuple[int, int] | None = None,
                  metric_columns: list[str] = (), img_subdir: str = "gallery") -> tuple[list[GalleryItem], list[str]]:
    """Gallery items for one (dataset, mask set); `jobs` is store.frame() (per-image rows)."""
    notes: list[str] = []
    sel = jobs[(jobs["dataset"] == dataset) & (jobs["mask_set"].fillna("") == mask_set) & (jobs["status"] == "ok")]
    if sel.empty:
        return [], [f"{dataset}: no finished jobs to show"]
    target = target_bpp if target_bpp else default_target_bpp(points, dataset, mask_set)
    labels = {(c, h): lbl for c, h, lbl in points[["codec", "config_hash", "label"]].drop_duplicates().itertuples(index=False)}
    chosen = images or sorted(sel["image"].unique())[:2]
    unknown = [i for i in chosen if i not in set(sel["image"])]
    if unknown:
        notes.append(f"{dataset}: no results for image(s) {', '.join(unknown)}; known: "
                     f"{', '.join(sorted(sel['image'].unique())[:8])}...")
    outline = _outliner() if mask_set else None
    if mask_set and outline is None:
        notes.append("ROI outlines not drawn: bench.masks.overlay.draw_roi_outline is not available")
    items = []
    for image in [i for i in chosen if i not in unknown]:
        rows = sel[sel["image"] == image]
        first = rows.iloc[0]
        src = Path(str(first["image_path"]))
        if not src.is_file():
            notes.append(f"{dataset}/{image}: original {src} not found; gallery item skipped")
            continue
        original = load_rgb(src)
        mask = None
        if mask_set and isinstance(first.get("mask_path"), str) and Path(first["mask_path"]).is_file():
            from ..masks.pairing import load_mask
            mask = load_mask(first["mask_path"], original.shape[:2])
        box = crop_box(*original.shape[:2], crop, mask, centre)
        item = GalleryItem(dataset, image, mask_set, target, box)
        base = f"{img_subdir}/{slug(dataset)}{'_' + slug(mask_set) if mask_set else ''}_{slug(image)}"
        shown = original if (mask is None or outline is None) else outline(original, mask)
        _save(_overview(shown, box), out_dir / f"{base}_overview.png")
        item.overview = f"{base}_overview.png"
        _save(_crop(shown, box), out_dir / f"{base}_original.png")
        item.tiles.append(Tile("original", f"{base}_original.png",
                               [f"{image}, crop {box[2]}x{box[3]} at ({box[0]}, {box[1]})"]))
        for (codec, config), g in rows.groupby(["codec", "config_hash"], sort=True):
            g = g[g["bpp"] > 0]
            if g.empty:
                continue
            best = g.iloc[int(np.argmin(np.abs(np.log(g["bpp"].to_numpy(float) / target))))]
            label = labels.get((codec, config), codec)
            recon = store.abspath(best["recon_path"]) if isinstance(best["recon_path"], str) else None
            if recon is None or not recon.is_file():
                item.notes.append(f"{label}: reconstruction file {recon} missing")
                continue
            name = f"{base}_{slug(label)}.png"
            _save(_crop(load_rgb(recon), box), out_dir / name)
            caption = [f"{best['bpp']:.3f} bpp ({best['setting']})"]
            vals = [f"{c} {best[c]:.4g}" for c in metric_columns if c in best and pd.notna(best[c])]
            if vals:
                caption.append(", ".join(vals[:CAPTION_METRICS]))
            if best.get("bpp_source") == "estimated":
                caption.append("estimated rate")
            item.tiles.append(Tile(label, name, caption))
        items.append(item)
    return items, notes
