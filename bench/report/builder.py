"""`bench report`: one static HTML page (plus its images) from a results folder.

The page links only to files written next to it (relative paths, no scripts, no web
fonts), so it opens from disk and survives being copied or archived with its folder.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis import bdrate
from ..analysis.bd_tables import (
    DEFAULT_RANGE,
    RANGES,
    BDTable,
    build_tables,
    select_columns,
)
from ..analysis.curves import column_meta, datasets_and_mask_sets, load_points
from ..analysis.plots import DEFAULT_REGIONS, save_plots
from ..analysis.rd_points import (
    BPP_LABELS,
    PATCHES_SUFFIX,
    unstable_note,
    unstable_patches,
)
from ..errors import BenchError
from ..image import atomic_write
from . import gallery, metadata

TEMPLATE = "report.html.j2"
IMG_DIR = "img"


@dataclass
class ReportOptions:
    anchor: str | None = None
    metrics: list[str] | None = None
    method: str = bdrate.DEFAULT_METHOD
    min_points: int = bdrate.DEFAULT_MIN_POINTS
    non_monotonic: str = bdrate.DEFAULT_NON_MONOTONIC
    bd_range: str = DEFAULT_RANGE           # "pair" | "common" (bench.analysis.bd_tables)
    dataset: str | None = None
    codecs: list[str] | None = None
    gallery_images: list[str] | None = None
    gallery_bpp: float | None = None
    crop: int = gallery.DEFAULT_CROP
    crop_centre: tuple[int, int] | None = None
    log_x: bool = False
    regions: tuple[str, ...] = DEFAULT_REGIONS
    title: str = "Rate-distortion report"


def default_anchor(points: pd.DataFrame) -> str:
    """jpeg when it was run (the usual anchor of image-codec papers), else the first codec."""
    runs = sorted(set(points.loc[~points["reference"], "label"])) or sorted(set(points["label"]))
    return "jpeg" if "jpeg" in runs else runs[0]


def _cell_class(table: BDTable, cell, is_anchor: bool) -> str:
    if is_anchor:
        return "anchor"
    if cell is None:
        return "empty"
    if not cell.ok:
        return "nan"
    warn = " warn" if cell.low_overlap else ""
    if table.kind == "metric":
        return "num" + warn
    shown = round(cell.value, 2)      # colour what the reader sees: +0.00 is neither
    return ("better" if shown < 0 else "worse" if shown > 0 else "num") + warn


def _cell_title(cell) -> str:
    if cell is None:
        return "no values for this codec"
    parts = [f"overlap {cell.overlap:.0%}" if math.isfinite(cell.overlap) else ""]
    if cell.reason:
        parts.append(cell.reason)
    parts += list(cell.notes)
    return "; ".join(p for p in parts if p)


def table_view(table: BDTable) -> dict:
    rows = []
    for r in table.rows:
        rows.append({"label": table.row_label(r), "reference": r.reference, "anchor": r.is_anchor,
                     "cells": [{"text": text, "cls": _cell_class(table, c, r.is_anchor), "title": _cell_title(c)}
                               for c, text in zip(r.cells, table.texts(r, "html"))]})
    headers = [{"name": c, "label": lbl} for c, lbl in zip(table.columns, table.labels)]
    return {"title": table.title, "headers": headers, "rows": rows, "notes": table.notes(),
            "dataset": table.dataset, "mask_set": table.mask_set, "kind": table.kind}


def _number(value) -> str:
    return "–" if value is None or not math.isfinite(float(value)) else f"{float(value):.4g}"


def points_views(points: pd.DataFrame, columns_for) -> tuple[list[dict], list[str]]:
    """Rate-point tables of the run codecs (one per dataset and mask set): both bpp
    conventions side by side, then the report's metric columns, FID/KID from too few
    patches marked ‡; and the footnotes for those marks."""
    runs = points[~points["reference"]]
    views, notes = [], []
    for dataset, mask_set in datasets_and_mask_sets(runs) if len(runs) else []:
        block = runs[(runs["dataset"] == dataset) & (runs["mask_set"] == mask_set)]
        cols = [c for c in columns_for(dataset, mask_set) if c in block and block[c].notna().any()]
        rows = []
        for _, r in block.iterrows():
            star = "*" if r.get("bpp_source") == "estimated" else ""
            cells = []
            for c in cols:
                n = r.get(c + PATCHES_SUFFIX)
                mark = unstable_patches(n) and pd.notna(r[c])
                if mark:
                    notes.append(f"‡ {unstable_note(c, n)}")
                cells.append(_number(r[c]) + ("‡" if mark else ""))
            rows.append({"label": r["label"], "setting": r["setting"], "n_images": int(r["n_images"]),
                         "bpp": _number(r["bpp"]) + star, "bpp_corpus": _number(r.get("bpp_corpus")) + star,
                         "cells": cells})
        views.append({"dataset": dataset, "mask_set": mask_set, "columns": cols, "rows": rows})
    return views, list(dict.fromkeys(notes))


def _render(context: dict) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.PackageLoader("bench.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE).render(**context)


def build_report(store, report_dir: Path, options: ReportOptions | None = None) -> Path:
    """Write report_dir/index.html and its images; returns the HTML path."""
    o = options or ReportOptions()
    report_dir = Path(report_dir)
    (report_dir / IMG_DIR).mkdir(parents=True, exist_ok=True)
    points = load_points(store, dataset=o.dataset, codecs=o.codecs)
    anchor = o.anchor or default_anchor(points)

    def meta(column: str) -> dict:
        return column_meta(store, column)

    tables = {kind: build_tables(points, anchor, meta, metrics=o.metrics, kind=kind, method=o.method,
                                 min_points=o.min_points, non_monotonic=o.non_monotonic, bd_range=o.bd_range)
              for kind in ("rate", "metric")}

    def columns_for(dataset: str, mask_set: str) -> list[str]:
        return select_columns(points[points["dataset"] == dataset], o.metrics, mask_set)

    point_tables, point_notes = points_views(points, columns_for)

    plots = save_plots(points, meta, report_dir / IMG_DIR, columns_for, formats=("png", "pdf", "svg"),
                       log_x=o.log_x, regions=o.regions)
    plot_views = [{"dataset": p["dataset"], "mask_set": p["mask_set"],
                   "files": {k: v.relative_to(report_dir).as_posix() for k, v in p["files"].items()}} for p in plots]

    jobs = store.frame()
    if o.dataset:
        jobs = jobs[jobs["dataset"] == o.dataset]
    if o.codecs:
        jobs = jobs[jobs["codec"].isin(o.codecs)]
    jobs = jobs.assign(mask_set=jobs["mask_set"].fillna(""))
    galleries, gallery_notes = [], []
    run_pairs = datasets_and_mask_sets(points[~points["reference"]]) if (~points["reference"]).any() else []
    for dataset in dict.fromkeys(d for d, _ in run_pairs):
        # one gallery per dataset; a masked run is preferred so the ROI outline shows
        mask_set = max((m for d, m in run_pairs if d == dataset), key=lambda m: m != "")
        full_cols = [c for c in columns_for(dataset, "") if c in jobs.columns]
        items, notes = gallery.build_gallery(store, points, jobs, dataset, mask_set, o.gallery_images, o.gallery_bpp,
                                             report_dir, crop=o.crop, centre=o.crop_centre,
                                             metric_columns=full_cols, img_subdir=f"{IMG_DIR}/gallery")
        galleries += items
        gallery_notes += notes

    all_columns = list(dict.fromkeys(c for t in tables["rate"] for c in t.columns))
    context = {
        "title": o.title,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "results_dir": str(store.root.resolve()),
        "anchor": anchor, "method": o.method, "method_text": bdrate.METHODS[o.method][1],
        "bd_range": o.bd_range, "bd_range_text": RANGES[o.bd_range],
        "overlap_warn": bdrate.OVERLAP_WARN,
        "point_tables": point_tables, "point_notes": point_notes, "bpp_labels": BPP_LABELS,
        "rate_tables": [table_view(t) for t in tables["rate"]],
        "metric_tables": [table_view(t) for t in tables["metric"]],
        "plots": plot_views, "galleries": galleries, "gallery_notes": gallery_notes,
        "runs": metadata.runs(store), "codecs": metadata.codecs(store, points),
        "metrics": metadata.metrics(store, all_columns, meta), "datasets": metadata.datasets(jobs) if len(jobs) else [],
        "skipped": store.skipped_images(o.dataset),
        "references": metadata.references(store), "errors": metadata.errors(jobs) if len(jobs) else [],
        "estimated": sorted(set(points.loc[points["bpp_source"] == "estimated", "label"])),
    }
    html_path = report_dir / "index.html"
    atomic_write(html_path, _render(context).encode("utf-8"))
    html_path.chmod(0o644)   # mkstemp made it private; a report is meant to be read and shared
    return html_path


def check_links(html_path: Path) -> list[str]:
    """Relative src/href targets of the page that do not exist (empty = self-contained)."""
    import re
    from urllib.parse import unquote, urlparse
    text = Path(html_path).read_text(encoding="utf-8")
    missing = []
    for ref in re.findall(r'(?:src|href)="([^"]+)"', text):
        parsed = urlparse(ref)
        if parsed.scheme or ref.startswith("#"):
            if parsed.scheme not in ("", "file"):
                missing.append(f"{ref} (not a local file)")
            continue
        if not (html_path.parent / unquote(parsed.path)).is_file():
            missing.append(ref)
    return missing


def ensure_self_contained(html_path: Path) -> None:
    missing = check_links(html_path)
    if missing:
        raise BenchError(f"report {html_path} links to missing files: {', '.join(missing[:5])}")
