"""BD tables: one per (dataset, mask set), one row per codec configuration, one column per
metric column (full image, then ROI and background when a mask set was used), every cell
a BD-rate (or BD-metric) against one anchor curve, with its caveats as marks and notes.

Ranges: "pair" (the default, as in JVET/VCEG tools) integrates each cell over the overlap
of its two curves, so cells of one column average over different ranges; "common"
integrates every cell of a column over one range, the intersection of all the column's
curves (anchor included), which makes a row-to-row comparison fair. A curve that does not
meet the anchor's range at all is left out of that intersection (and gets no value)
rather than emptying it for everyone."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import pandas as pd

from ..errors import BenchError
from . import bdrate
from .curves import (
    Curve,
    curves,
    datasets_and_mask_sets,
    find_curve,
    metric_columns,
    region_of,
)
from .rd_points import PATCHES_SUFFIX, unstable_note, unstable_patches

REGION_ORDER = {"full": 0, "roi": 1, "bg": 2}
RANGES = {"pair": "per pair: each cell over the overlap of its two curves",
          "common": "common: every cell of a column over one range, the intersection of all its curves' ranges "
                    "(anchor included)"}
DEFAULT_RANGE = "pair"
# Marks per output format: low overlap, non-monotonic points, undefined value, FID/KID
# from fewer patches than feature dimensions.
MARKS = {
    "md": {"overlap": "†", "monotonic": "*", "nan": "n/a", "unstable": "‡"},
    "html": {"overlap": "†", "monotonic": "*", "nan": "n/a", "unstable": "‡"},
    "csv": {"overlap": "", "monotonic": "", "nan": "", "unstable": ""},
    "latex": {"overlap": r"$^\dagger$", "monotonic": r"$^{*}$", "nan": "n/a", "unstable": r"$^\ddagger$"},
}


@dataclass
class Row:
    label: str
    reference: bool
    estimated: bool
    is_anchor: bool
    cells: list[bdrate.BDResult | None]      # None: the codec has no values for that column
    n_errors: int = 0                         # failed jobs behind this row's points
    n_target_missed: int = 0                  # images whose --target-bpp search missed
    n_patches: list[float] = field(default_factory=list)   # per column: fewest FID/KID patches, NaN if n/a


@dataclass
class BDTable:
    dataset: str
    mask_set: str
    anchor: str
    kind: str                                 # "rate" | "metric"
    method: str
    columns: list[str]
    labels: list[str]                         # what each column measures (metric_meta label)
    rows: list[Row] = field(default_factory=list)
    non_monotonic: str = bdrate.DEFAULT_NON_MONOTONIC
    min_points: int = bdrate.DEFAULT_MIN_POINTS
    overlap_warn: float = bdrate.OVERLAP_WARN
    bd_range: str = DEFAULT_RANGE
    # common range only: per column, the interval every cell used (None: empty) and the
    # curves left out of it
    ranges: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    excluded: dict[str, list[str]] = field(default_factory=dict)

    @property
    def headers(self) -> list[str]:
        return list(self.columns)

    @property
    def title(self) -> str:
        what = "BD-rate (%) — negative = fewer bits at equal quality" if self.kind == "rate" else \
            "BD-metric (test − anchor at equal rate, metric units)"
        mask = f", ROI mask set '{self.mask_set}'" if self.mask_set else ""
        where = "common range" if self.bd_range == "common" else "per-pair ranges"
        return f"{self.dataset}{mask}: {what}; anchor {self.anchor}, {self.method}, {where}"

    def range_text(self, column: str) -> str:
        """The common interval of a column in its units (bpp for BD-metric, metric for BD-rate)."""
        span = self.ranges.get(column)
        if span is None:
            return "empty"
        unit = " bpp" if self.kind == "metric" else ""
        return f"[{span[0]:.4g}, {span[1]:.4g}]{unit}"

    def unstable(self, row: Row, index: int) -> bool:
        return bool(row.n_patches) and unstable_patches(row.n_patches[index])

    def notes(self) -> list[str]:
        """Caveats in reading order: the method, then each undefined/warned cell."""
        out = [(f"method {self.method}: {bdrate.METHODS[self.method][1]}; curves need >= {self.min_points} points; "
                f"non-monotonic points: {bdrate.NON_MONOTONIC_POLICIES[self.non_monotonic]}"),
               f"range: {RANGES[self.bd_range]}"]
        if self.bd_range == "common":
            var = "bpp" if self.kind == "metric" else "metric values (BD-rate integrates over quality)"
            out.append(f"common range in {var}: " + "; ".join(f"{c} {self.range_text(c)}" for c in self.columns))
            for column in self.columns:
                if self.excluded.get(column):
                    out.append(f"{column}: left out of the common range (no overlap with the anchor's range): "
                               + ", ".join(self.excluded[column]))
        for column_index, column in enumerate(self.columns):
            counts = sorted({int(r.n_patches[column_index]) for r in self.rows if self.unstable(r, column_index)})
            for n in counts:
                out.append(f"{column}: ‡ {unstable_note(column, n)}")
        if any(r.estimated for r in self.rows):
            out.append("(est. rate): the codec reports an estimated rate (likelihoods), not a real bitstream size")
        if any(r.reference for r in self.rows):
            out.append("[ref]: an imported published curve, not run here")
        for row in self.rows:
            if row.n_errors:
                out.append(f"{row.label}: {row.n_errors} failed job(s); its points average fewer images "
                           "than the others (see `bench results`)")
            if row.n_target_missed:
                out.append(f"{row.label}: {row.n_target_missed} image(s) missed their --target-bpp "
                           "(out of the knob's reach or tolerance)")
        out.append("columns: " + "; ".join(f"{c} = {h}" for c, h in zip(self.columns, self.labels)))
        for row in self.rows:
            for column, cell in zip(self.columns, row.cells):
                if cell is None or row.is_anchor:
                    continue
                where = f"{row.label} / {column}"
                if not cell.ok:
                    out.append(f"{where}: undefined — {cell.reason}")
                elif cell.low_overlap:
                    out.append(f"{where}: † overlap {cell.overlap:.0%} < {self.overlap_warn:.0%} of the curves' range")
                for n in cell.notes:
                    if "non-monotonic" in n or "left out" in n:
                        # anchor notes are the same on every row: say them once
                        who = f"{self.anchor} (anchor) / {column}" if n.startswith("anchor:") else where
                        out.append(f"{who}: * {n.split(': ', 1)[1]}")
        return list(dict.fromkeys(out))

    def cell_text(self, row: Row, cell: bdrate.BDResult | None, fmt: str, unstable: bool = False) -> str:
        """`unstable`: the cell rests on a FID/KID curve from too few patches (see `cell_unstable`)."""
        marks = MARKS[fmt]
        if row.is_anchor:
            return "anchor" + (marks["unstable"] if unstable else "")
        if cell is None:
            return "–" if fmt != "csv" else ""
        if not cell.ok:
            return marks["nan"]
        text = f"{cell.value:+.2f}" if self.kind == "rate" else f"{cell.value:+.4g}"
        if cell.low_overlap:
            text += marks["overlap"]
        if cell.non_monotonic:
            text += marks["monotonic"]
        if unstable:
            text += marks["unstable"]
        return text

    def cell_unstable(self, row: Row, index: int) -> bool:
        """A cell is as shaky as the shakier of its two curves: its own or the anchor's."""
        anchor = next((r for r in self.rows if r.is_anchor), None)
        return self.unstable(row, index) or (anchor is not None and self.unstable(anchor, index))

    def texts(self, row: Row, fmt: str) -> list[str]:
        return [self.cell_text(row, c, fmt, self.cell_unstable(row, i)) for i, c in enumerate(row.cells)]

    def row_label(self, row: Row) -> str:
        return row.label + (" [ref]" if row.reference else "") + (" (est. rate)" if row.estimated else "")

    def frame(self, fmt: str = "md") -> pd.DataFrame:
        return pd.DataFrame([[self.row_label(r)] + self.texts(r, fmt) for r in self.rows],
                            columns=["codec"] + self.headers)

    def long_frame(self) -> pd.DataFrame:
        """Machine-readable: one line per (codec, column) with value, overlap and reason."""
        recs = []
        for r in self.rows:
            for i, (col, cell) in enumerate(zip(self.columns, r.cells)):
                span = cell.interval if cell is not None and cell.interval and not r.is_anchor else (math.nan, math.nan)
                recs.append({"dataset": self.dataset, "mask_set": self.mask_set, "anchor": self.anchor,
                             "method": self.method, "kind": self.kind, "range": self.bd_range,
                             "codec": r.label, "reference": r.reference,
                             "estimated_rate": r.estimated, "metric": col,
                             "value": 0.0 if r.is_anchor else (cell.value if cell else math.nan),
                             "overlap": 1.0 if r.is_anchor else (cell.overlap if cell else math.nan),
                             "low_overlap": bool(cell and cell.low_overlap and not r.is_anchor),
                             "range_lo": span[0], "range_hi": span[1],
                             "n_patches": r.n_patches[i] if r.n_patches else math.nan,
                             "few_patches": self.cell_unstable(r, i),
                             "reason": (cell.reason if cell else "no values") if not r.is_anchor else "",
                             "notes": "; ".join(cell.notes) if cell else ""})
        return pd.DataFrame(recs)


def render(table: BDTable, fmt: str) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        table.long_frame().to_csv(buf, index=False, float_format="%.6f")
        return buf.getvalue()
    if fmt == "md":
        df = table.frame("md")
        lines = [f"### {table.title}", "", "| " + " | ".join(df.columns) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(df.columns) - 1)) + "|"]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
        lines += [""] + [f"- {n}" for n in table.notes()]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        df = table.frame("latex")
        df.columns = [_latex_escape(c) for c in df.columns]
        df["codec"] = [_latex_escape(v) for v in df["codec"]]
        body = df.to_latex(index=False, escape=False, column_format="l" + "r" * (len(df.columns) - 1))
        notes = "\n".join(f"% {n}" for n in table.notes())
        return f"% {table.title}\n{body}{notes}\n"
    raise BenchError(f"unknown table format '{fmt}'; use md, csv or latex")


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(a, b)
    return text


def select_columns(points: pd.DataFrame, metrics: list[str] | None, mask_set: str) -> list[str]:
    """Metric columns for a table: the named metrics (or all but `_mse` variants), full
    image first, ROI/background only when the table has a mask set."""
    available = metric_columns(points)
    if metrics:
        wanted = [c for c in available if region_of(c)[1] in metrics or c in metrics]
    else:
        wanted = [c for c in available if not c.endswith("_mse")]
    if not mask_set:
        wanted = [c for c in wanted if region_of(c)[0] == "full"]
    bases = list(dict.fromkeys(region_of(c)[1] for c in wanted))
    if metrics:
        rank = {m: i for i, m in enumerate(metrics)}
        bases.sort(key=lambda b: (rank.get(b, rank.get(b.removesuffix("_mse"), len(rank))), b))
    else:
        # PSNR first, as in image-compression papers; the rest alphabetically
        bases.sort(key=lambda b: (not b.startswith("psnr"), b))
    return sorted(wanted, key=lambda c: (bases.index(region_of(c)[1]), REGION_ORDER[region_of(c)[0]]))


def check_metrics(points: pd.DataFrame, metrics: list[str] | None) -> None:
    """Every named metric must have stored values somewhere, else say what is stored."""
    available = metric_columns(points)
    missing = [m for m in metrics or [] if not any(c == m or region_of(c)[1] == m for c in available)]
    if missing:
        raise BenchError(f"no stored values for metric(s) {', '.join(missing)}; stored: {', '.join(available)} "
                         "(compute more with `bench run --metrics ...`)")


def _table_curves(points: pd.DataFrame, column: str, dataset: str, mask_set: str) -> list[Curve]:
    found = curves(points, column, dataset=dataset, mask_set=mask_set)
    if mask_set and region_of(column)[0] == "full":
        # published curves have no mask set; their full-image values still compare
        found += [c for c in curves(points, column, dataset=dataset, mask_set="") if c.reference]
    return found


def common_range(found: list[Curve], anchor: Curve | None, kind: str, higher_is_better: bool, min_points: int,
                 non_monotonic: str) -> tuple[tuple[float, float] | None, list[str]]:
    """The intersection of the integration ranges of a column's curves, in user units (bpp
    for BD-metric, metric values for BD-rate), and the labels left out of it because they
    do not meet the anchor's range. Unusable curves (too few points) do not narrow it."""
    if anchor is None:
        return None, []
    a = bdrate.integration_range(kind, anchor.bpp, anchor.value, higher_is_better=higher_is_better,
                                 min_points=min_points, non_monotonic=non_monotonic)
    if a is None:
        return None, []
    lo, hi = a
    left_out = []
    for c in found:
        if c.label == anchor.label:
            continue
        span = bdrate.integration_range(kind, c.bpp, c.value, higher_is_better=higher_is_better,
                                        min_points=min_points, non_monotonic=non_monotonic)
        if span is None:
            continue
        if span[1] <= a[0] or span[0] >= a[1]:
            left_out.append(c.label)
            continue
        lo, hi = max(lo, span[0]), min(hi, span[1])
    return ((lo, hi) if hi > lo else None), left_out


def build_tables(points: pd.DataFrame, anchor: str, meta, *, metrics: list[str] | None = None,
                 kind: str = "rate", method: str = bdrate.DEFAULT_METHOD,
                 min_points: int = bdrate.DEFAULT_MIN_POINTS, non_monotonic: str = bdrate.DEFAULT_NON_MONOTONIC,
                 overlap_warn: float = bdrate.OVERLAP_WARN, bd_range: str = DEFAULT_RANGE) -> list[BDTable]:
    """`meta(column) -> dict` gives higher_is_better and label (bench.analysis.rd_points.metric_meta);
    `bd_range` is "pair" or "common" (see the module docstring)."""
    bdrate.check_args(method, non_monotonic)
    if kind not in ("rate", "metric"):
        raise BenchError(f"unknown BD kind '{kind}'; use rate or metric")
    if bd_range not in RANGES:
        raise BenchError(f"unknown BD range '{bd_range}'; use {' or '.join(RANGES)}")
    fn = bdrate.bd_rate if kind == "rate" else bdrate.bd_metric
    check_metrics(points, metrics)
    run_pairs = datasets_and_mask_sets(points[~points["reference"]]) if (~points["reference"]).any() else \
        datasets_and_mask_sets(points)
    labels_everywhere = set(points["label"]) | set(points["codec"])
    if anchor not in labels_everywhere:
        raise BenchError(f"anchor '{anchor}' has no results here; choose one of: {', '.join(sorted(set(points['label'])))}")
    tables = []
    for dataset, mask_set in run_pairs:
        columns = select_columns(points[(points["dataset"] == dataset)], metrics, mask_set)
        if not columns:
            continue
        metas = [meta(c) for c in columns]
        table = BDTable(dataset, mask_set, anchor, kind, method, columns, [m["label"] for m in metas],
                        non_monotonic=non_monotonic, min_points=min_points, overlap_warn=overlap_warn,
                        bd_range=bd_range)
        per_column = [_table_curves(points, c, dataset, mask_set) for c in columns]
        anchors = [find_curve(found, anchor) for found in per_column]
        if all(a is None for a in anchors):
            continue  # the anchor was not run on this dataset / mask set
        labels = list(dict.fromkeys(c.label for found in per_column for c in found))
        is_ref = {c.label: c.reference for found in per_column for c in found}
        ordered = sorted(labels, key=lambda lbl: (not any(a is not None and a.label == lbl for a in anchors),
                                                   is_ref[lbl], lbl.lower()))
        if bd_range == "common":
            for col, m, found, anc in zip(columns, metas, per_column, anchors):
                span, left_out = common_range(found, anc, kind, bool(m.get("higher_is_better", True)),
                                              min_points, non_monotonic)
                table.ranges[col] = span
                table.excluded[col] = left_out
        for lbl in ordered:
            cells: list[bdrate.BDResult | None] = []
            row_curves = []
            for col, m, found, anc in zip(columns, metas, per_column, anchors):
                cur = next((c for c in found if c.label == lbl), None)
                row_curves.append(cur)
                if cur is None:
                    cells.append(None)
                elif anc is None:
                    cells.append(bdrate.BDResult(math.nan, kind, method,
                                                 reason=f"the anchor {anchor} has no {col} values"))
                elif bd_range == "common" and (lbl in table.excluded[col] or table.ranges[col] is None):
                    why = "its range does not meet the anchor's" if lbl in table.excluded[col] else \
                        "the curves' ranges have no common part"
                    cells.append(bdrate.BDResult(math.nan, kind, method, 0.0, f"no overlap with the common range: {why}"))
                else:
                    cells.append(fn(anc.bpp, anc.value, cur.bpp, cur.value,
                                    higher_is_better=bool(m.get("higher_is_better", True)), method=method,
                                    min_points=min_points, non_monotonic=non_monotonic, overlap_warn=overlap_warn,
                                    interval=table.ranges.get(col)))
            present = [c for c in row_curves if c is not None]
            sel = points[(points["dataset"] == dataset) & (points["mask_set"] == mask_set) & (points["label"] == lbl)]
            def total(col: str, sel: pd.DataFrame = sel) -> int:
                return int(pd.to_numeric(sel[col], errors="coerce").fillna(0).sum()) if col in sel else 0

            def fewest_patches(col: str, sel: pd.DataFrame = sel) -> float:
                # reference curves carry no counts: NaN, no mark
                n = pd.to_numeric(sel[col + PATCHES_SUFFIX], errors="coerce") if col + PATCHES_SUFFIX in sel else None
                return float(n.min()) if n is not None and n.notna().any() else math.nan
            table.rows.append(Row(lbl, reference=present[0].reference, estimated=any(c.estimated for c in present),
                                  is_anchor=any(a is not None and a.label == lbl for a in anchors), cells=cells,
                                  n_errors=total("n_errors"), n_target_missed=total("target_missed"),
                                  n_patches=[fewest_patches(c) for c in columns]))
        tables.append(table)
    if not tables:
        raise BenchError(f"anchor '{anchor}' shares no dataset and metric with the other codecs")
    return tables
