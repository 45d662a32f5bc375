"""RD plots: one figure per (dataset, mask set), one panel per metric, bpp on x.

Line styles follow the ROI papers: full image solid, ROI dotted (background dashed when
asked for); one colour per codec configuration across every panel and figure. Markers sit
at the measured points; hollow markers flag estimated rates (likelihood-based bpp),
square markers and thin lines flag imported reference curves.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import BenchError
from .curves import curves, datasets_and_mask_sets, region_of

REGION_STYLE = {"full": ("-", "full image"), "roi": (":", "ROI"), "bg": ("--", "background")}
DEFAULT_REGIONS = ("full", "roi")
FORMATS = ("png", "pdf", "svg")
PANEL_SIZE = (4.6, 3.5)   # inches per panel
MAX_COLS = 3


def colour_map(labels: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps
    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {lbl: cmap(i % cmap.N) for i, lbl in enumerate(sorted(labels))}


def panel_metrics(columns: list[str]) -> list[str]:
    """Full-image metric names, in order, for the given metric columns (ROI/bg join their panel)."""
    return list(dict.fromkeys(region_of(c)[1] for c in columns))


def rd_figure(points: pd.DataFrame, meta: Callable[[str], dict], dataset: str, mask_set: str,
              columns: list[str], *, log_x: bool = False, regions=DEFAULT_REGIONS, colours=None):
    """A matplotlib Figure (no pyplot state, safe in workers and tests)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    bases = panel_metrics(columns)
    if not bases:
        raise BenchError(f"nothing to plot for dataset '{dataset}': no metric values")
    colours = colours or colour_map(sorted(set(points["label"])))
    ncols = min(MAX_COLS, len(bases))
    nrows = math.ceil(len(bases) / ncols)
    fig = Figure(figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    seen: dict[str, Line2D] = {}
    used_regions = set()
    for ax, base in zip(axes, bases):
        full_meta = meta(base)
        for region in regions:
            column = base if region == "full" else f"{region}-{base}"
            if column not in columns:
                continue
            found = curves(points, column, dataset=dataset, mask_set=mask_set)
            if mask_set and region == "full":
                found += [c for c in curves(points, column, dataset=dataset, mask_set="") if c.reference]
            style, _ = REGION_STYLE[region]
            for c in found:
                used_regions.add(region)
                colour = colours.get(c.label, "black")
                face = "white" if c.estimated else colour
                line, = ax.plot(c.bpp, c.value, linestyle=style, color=colour, linewidth=1.0 if c.reference else 1.6,
                                marker="s" if c.reference else "o", markersize=3.5 if c.reference else 4.5,
                                markerfacecolor=face, markeredgecolor=colour, alpha=0.85 if c.reference else 1.0)
                name = c.label + (" [ref]" if c.reference else "") + (" (est. rate)" if c.estimated else "")
                if region == "full" or name not in seen:
                    seen.setdefault(name, Line2D([], [], color=colour, linestyle="-", marker=line.get_marker(),
                                                 markerfacecolor=face, markeredgecolor=colour))
        unit = full_meta.get("unit") or ""
        direction = "" if full_meta.get("higher_is_better", True) else "  (lower is better)"
        ax.set_title(full_meta.get("label", base), fontsize=10)
        ax.set_ylabel(f"{base}{f' [{unit}]' if unit else ''}{direction}", fontsize=9)
        ax.set_xlabel("bpp" + (" (log scale)" if log_x else ""), fontsize=9)
        if log_x:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
            ax.set_xscale("log")
            # plain numbers at 1-2-5 steps: bpp ranges span one or two decades
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes[len(bases):]:
        ax.set_visible(False)
    handles = list(seen.values())
    names = list(seen)
    if len(used_regions) > 1:
        for region in regions:
            if region in used_regions:
                style, text = REGION_STYLE[region]
                handles.append(Line2D([], [], color="0.3", linestyle=style))
                names.append(text)
    fig.legend(handles, names, loc="outside lower center", ncols=min(6, max(1, len(names))), fontsize=8, frameon=False)
    fig.suptitle(f"{dataset}" + (f" — ROI mask set '{mask_set}'" if mask_set else ""), fontsize=11)
    return fig


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def save_plots(points: pd.DataFrame, meta: Callable[[str], dict], out_dir: Path, columns_for,
               *, formats=("png", "pdf"), log_x: bool = False, regions=DEFAULT_REGIONS, dpi: int = 120) -> list[dict]:
    """Write one figure per (dataset, mask set) in each format.

    `columns_for(dataset, mask_set) -> list[str]` picks the metric columns (see
    report.bd_tables.select_columns). Returns [{dataset, mask_set, files: {fmt: path}}].
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise BenchError(f"unknown plot format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    colours = colour_map(sorted(set(points["label"])))
    runs = points[~points["reference"]] if (~points["reference"]).any() else points
    written = []
    for dataset, mask_set in datasets_and_mask_sets(runs):
        columns = columns_for(dataset, mask_set)
        if not columns:
            continue
        fig = rd_figure(points, meta, dataset, mask_set, columns, log_x=log_x, regions=regions, colours=colours)
        stem = "rd_" + slug(dataset) + (f"_{slug(mask_set)}" if mask_set else "")
        files = {}
        for fmt in formats:
            path = out_dir / f"{stem}.{fmt}"
            fig.savefig(path, dpi=dpi, metadata=None if fmt != "png" else {"Software": "bench"})
            files[fmt] = path
        written.append({"dataset": dataset, "mask_set": mask_set, "files": files})
    if not written:
        raise BenchError("no RD curve to plot: the results have no metric values")
    return written
