"""`bench report --protocol NAME`: the results laid out as the paper does — its figures (a
grid of RD panels per figure, one row per dataset, the paper's legend names and line
styles), its BD tables against its anchor, and what the protocol could not run here.

Curves get the paper's names through the protocol run's record (entry -> codec config
hash, bench.protocols.record): two entries may be one codec with different checkpoints,
which only the run knew apart. Results run without --protocol still match an entry when
its codec has one stored configuration with the entry's options.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd

from ..analysis.curves import curves, load_points
from ..analysis.plots import REGION_STYLE, slug
from ..errors import BenchError
from ..image import atomic_write
from ..protocols.model import CodecEntry, Figure, Protocol, Table
from ..protocols.record import read_record

IMG_DIR = "img"
PANEL_SIZE = (4.2, 3.2)     # inches per panel, near a two-column paper's figure panels
REGION_LINES = {"roi": REGION_STYLE["roi"][0], "bg": "-."}   # bg not "--": entries use dashes for non-diffusion


def entry_configs(protocol: Protocol, record: dict, configs: dict[str, dict]) -> dict[str, str]:
    """config hash -> entry id: from the run record, else by codec name and options."""
    out: dict[str, str] = {}
    for e in protocol.codecs:
        for h in record.get("entries", {}).get(e.id, []):
            out.setdefault(h, e.id)
    from ..codec.registry import parse_codec_spec
    for e in protocol.codecs:
        if e.id in record.get("entries", {}):
            continue
        _, fixed = parse_codec_spec(f"{e.codec}:{e.options}")
        found = [h for h, c in configs.items() if h not in out and c.get("name") == e.codec
                 and all(str((c.get("options") or {}).get(k)) == str(v) for k, v in fixed.items())]
        if len(found) == 1:
            out[found[0]] = e.id
    return out


def protocol_points(store, protocol: Protocol) -> tuple[pd.DataFrame, list[str]]:
    """Run points of the protocol's entries, labelled with the paper's names (column `entry`
    holds the id), and the labels of stored codecs that are no entry of the protocol."""
    points = load_points(store, references=False)
    points = points[~points["reference"]]
    mapping = entry_configs(protocol, read_record(store.root, protocol.name), store.codec_configs())
    entry_ids = points["config_hash"].map(mapping)
    others = sorted(set(points.loc[entry_ids.isna(), "label"]))
    points = points[entry_ids.notna()].assign(entry=entry_ids[entry_ids.notna()])
    points["label"] = [protocol.entry(i).legend for i in points["entry"]]
    return points.reset_index(drop=True), others


def _colours(protocol: Protocol) -> dict[str, object]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex
    cmap = colormaps["tab10"]
    taken = {e.colour.lower() for e in protocol.codecs if e.colour}
    free = iter([c for c in (to_hex(cmap(i)) for i in range(cmap.N)) if c not in taken] * 4)
    return {e.id: e.colour or next(free) for e in protocol.codecs}   # never reuse a colour a file chose


def _measured(protocol: Protocol, dataset: str, masks: str) -> set[str]:
    return {m for g in protocol.runs if g.dataset == dataset and g.masks == masks for m in g.metrics}


def figure(store, protocol: Protocol, fig: Figure, points: pd.DataFrame):
    """A matplotlib Figure of the paper's grid; panels the paper leaves empty (a metric not
    measured on a dataset) stay blank, panels with nothing run here say so."""
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D

    from ..analysis.curves import column_meta
    cells = [(d, m) for d in fig.datasets for m in fig.metrics]
    ncols = fig.columns or len(fig.metrics)
    nrows = math.ceil(len(cells) / ncols)
    mpl = MplFigure(figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.9), layout="constrained")
    axes = mpl.subplots(nrows, ncols, squeeze=False).ravel()
    colours = _colours(protocol)
    wanted = [protocol.entry(i) for i in fig.codecs] if fig.codecs else list(protocol.codecs)
    legend: dict[str, Line2D] = {}
    regions_drawn: set[str] = set()
    for ax, (dataset, metric) in zip(axes, cells):
        if metric not in _measured(protocol, dataset, fig.masks):
            ax.set_visible(False)          # the paper does not measure it there (FID on Kodak)
            continue
        drawn = 0
        for e in wanted:
            for region in fig.regions:
                column = metric if region == "full" else f"{region}-{metric}"
                found = [c for c in curves(points, column, dataset=dataset, mask_set=fig.masks)
                         if c.label == e.legend]
                for c in found:
                    line = e.line if region == "full" else REGION_LINES[region]
                    colour = colours[e.id]
                    face = "white" if c.estimated else colour
                    ax.plot(c.bpp, c.value, linestyle=line, color=colour, marker=e.marker, markersize=4.5,
                            linewidth=1.8 if e.id == protocol.codecs[0].id else 1.4, markerfacecolor=face,
                            markeredgecolor=colour)
                    drawn += 1
                    regions_drawn.add(region)
                    legend.setdefault(e.legend, Line2D([], [], color=colour, linestyle=e.line, marker=e.marker,
                                                       markerfacecolor=face, markeredgecolor=colour))
        meta = column_meta(store, metric)
        arrow = "↑" if meta.get("higher_is_better", True) else "↓"
        unit = meta.get("unit") or ""
        ax.set_title(f"{protocol.dataset_label(dataset)}", fontsize=10)
        ax.set_ylabel(f"{metric.upper()}{f' [{unit}]' if unit else ''} {arrow}", fontsize=9)
        ax.set_xlabel("bpp" + (" (log scale)" if fig.log_x else ""), fontsize=9)
        if fig.log_x and drawn:
            ax.set_xscale("log")
        if not drawn:
            ax.text(0.5, 0.5, "not run here", transform=ax.transAxes, ha="center", va="center", color="0.5")
            ax.set_xticks([])
            ax.set_yticks([])
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes[len(cells):]:
        ax.set_visible(False)
    handles, names = list(legend.values()), list(legend)
    if len(regions_drawn) > 1:
        for region in fig.regions:
            handles.append(Line2D([], [], color="0.3", linestyle="-" if region == "full" else REGION_LINES[region]))
            names.append(REGION_STYLE[region][1])
    if handles:
        # about three entries per panel width, so a one-panel figure's legend is not cut at its edges
        mpl.legend(handles, names, loc="outside lower center", ncols=min(len(names), 3 * ncols, 6), fontsize=8,
                   frameon=False)
    return mpl


def _anchor(table: Table, protocol: Protocol, points: pd.DataFrame) -> CodecEntry | None:
    """The first anchor in the paper's order that has results on the table's datasets."""
    here = points[points["dataset"].isin(table.datasets) & (points["mask_set"] == table.masks)]
    for i in table.anchor:
        if (here["entry"] == i).any():
            return protocol.entry(i)
    return None


def _cell_class(kind: str, row, cell) -> str:
    if row.is_anchor:
        return "anchor"
    if cell is None:
        return "empty"
    if not cell.ok:
        return "nan"
    shown = round(cell.value, 2)
    if kind == "metric" or shown == 0:
        return "num"
    return "better" if shown < 0 else "worse"


def table_views(store, protocol: Protocol, table: Table, points: pd.DataFrame) -> dict:
    """One BD table per dataset of the paper's table, rows in the protocol's entry order."""
    from ..analysis.bd_tables import build_tables
    from ..analysis.curves import column_meta, metric_columns, region_of
    view = {"id": table.id, "caption": table.caption, "tables": [], "notes": []}
    entries = [protocol.entry(i) for i in table.codecs] if table.codecs else list(protocol.codecs)
    sel = points[points["dataset"].isin(table.datasets) & (points["mask_set"] == table.masks)
                 & points["entry"].isin([e.id for e in entries] + list(table.anchor))]
    anchor = _anchor(table, protocol, sel)
    if anchor is None:
        view["notes"].append("not computed: no anchor was run here (tried " + ", ".join(table.anchor) + ")")
        return view
    if anchor.id != table.anchor[0]:
        view["notes"].append(f"anchor {anchor.legend} stands in for the paper's "
                             f"{protocol.entry(table.anchor[0]).legend}, which was not run here")
    stored = [m for m in table.metrics if any(region_of(c)[1] == m for c in metric_columns(sel))]
    if not stored:
        view["notes"].append(f"not computed: no stored values of {', '.join(table.metrics)}")
        return view
    try:
        built = build_tables(sel, anchor.legend, lambda c: column_meta(store, c), metrics=stored,
                             kind=table.kind, method=table.method)
    except BenchError as exc:
        view["notes"].append(f"not computed: {exc}")
        return view
    order = {e.legend: i for i, e in enumerate([anchor] + entries)}
    for t in built:
        if t.dataset not in table.datasets or t.mask_set != table.masks:
            continue
        frame = t.frame("md")
        texts = {label: list(row)[1:] for label, row in zip((r.label for r in t.rows), frame.itertuples(index=False))}
        rows = sorted(t.rows, key=lambda r: order.get(r.label, len(order)))
        view["tables"].append({
            "dataset": protocol.dataset_label(t.dataset), "headers": t.headers,
            "rows": [{"label": t.row_label(r), "anchor": r.is_anchor,
                      "cells": [{"text": txt, "cls": _cell_class(t.kind, r, c)} for txt, c in zip(texts[r.label], r.cells)]}
                     for r in rows],
            "notes": t.notes()})
        missing = [m for m in table.metrics if m not in stored]
        if missing:
            view["notes"].append(f"{', '.join(missing)}: no stored values here")
    return view


def entry_views(protocol: Protocol, record: dict, points: pd.DataFrame) -> list[dict]:
    missing = record.get("missing", {})
    out = []
    for e in protocol.codecs:
        runs = sorted({protocol.dataset_label(d) + (f" + {m}" if m else "")
                       for d, m in points.loc[points["entry"] == e.id, ["dataset", "mask_set"]].itertuples(index=False)})
        out.append({"id": e.id, "label": e.legend, "codec": e.codec + (f":{e.options}" if e.options else ""),
                    "rates": ", ".join(f"{r:g}" for r in e.rates) or "codec default", "note": e.note,
                    "status": ("results on " + ", ".join(runs)) if runs else missing.get(f"codec:{e.id}", "no results")})
    return out


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.95em; margin-top: 0.3em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.better { background: #e3f4e1; } td.worse { background: #fbe5e1; } td.anchor { color: #666; font-style: italic; }
td.nan, td.empty { color: #999; }
.missing li { color: #8a4b00; } .small { font-size: 0.85em; color: #555; } table.entries td { text-align: left; }
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ paper }}<br><span class="small">protocol {{ protocol_file }}; results {{ results_dir }}; generated {{ generated }}</span></p>
{% if missing %}
<h2>Not run here</h2>
<ul class="missing">{% for line in missing %}<li>{{ line }}</li>{% endfor %}</ul>
{% endif %}
{% if notes %}<ul class="small">{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{% for f in figures %}
<h2>{{ f.id }}</h2>
<figure><img src="{{ f.png }}" alt="{{ f.id }}"><figcaption><b>{{ f.id }}.</b> {{ f.caption }}
<span class="small">(<a href="{{ f.pdf }}">pdf</a>, <a href="{{ f.svg }}">svg</a>)</span></figcaption></figure>
{% endfor %}
{% for t in tables %}
<h2>{{ t.id }}</h2>
<p>{{ t.caption }}</p>
{% for n in t.notes %}<p class="small">{{ n }}</p>{% endfor %}
{% for sub in t.tables %}
<table><tr><th>{{ sub.dataset }}</th>{% for h in sub.headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in sub.rows %}<tr><td>{{ r.label }}</td>{% for c in r.cells %}<td class="{{ c.cls }}">{{ c.text }}</td>{% endfor %}</tr>
{% endfor %}</table>
<ul class="small">{% for n in sub.notes %}<li>{{ n }}</li>{% endfor %}</ul>
{% endfor %}
{% endfor %}
<h2>Codecs</h2>
<table class="entries"><tr><th>entry</th><th>paper name</th><th>codec</th><th>rates</th><th>note</th><th>here</th></tr>
{% for e in entries %}<tr><td>{{ e.id }}</td><td>{{ e.label }}</td><td>{{ e.codec }}</td><td>{{ e.rates }}</td><td>{{ e.note }}</td><td>{{ e.status }}</td></tr>
{% endfor %}</table>
{% if others %}<p class="small">Also in these results, not part of this protocol: {{ others|join(", ") }}
(see `bench report` without --protocol).</p>{% endif %}
</body></html>
"""


def build_protocol_report(store, protocol: Protocol, report_dir: Path, title: str | None = None) -> Path:
    """Write report_dir/index.html and its figures; returns the HTML path."""
    import jinja2
    report_dir = Path(report_dir)
    (report_dir / IMG_DIR).mkdir(parents=True, exist_ok=True)
    points, others = protocol_points(store, protocol)
    if points.empty:
        raise BenchError(f"no results of protocol '{protocol.name}' in {store.root}; run "
                         f"`bench run --protocol {protocol.name} --out {store.root}` first")
    record = read_record(store.root, protocol.name)
    figures = []
    for fig in protocol.figures:
        mpl = figure(store, protocol, fig, points)
        files = {}
        for fmt in ("png", "pdf", "svg"):
            path = report_dir / IMG_DIR / f"{slug(fig.id)}.{fmt}"
            mpl.savefig(path, dpi=110, metadata=None if fmt != "png" else {"Software": "bench"})
            files[fmt] = path.relative_to(report_dir).as_posix()
        figures.append({"id": fig.id, "caption": fig.caption, **files})
    context = {
        "title": title or f"{protocol.title}: results laid out as the paper",
        "paper": protocol.paper, "protocol_file": str(protocol.path), "results_dir": str(Path(store.root).resolve()),
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "missing": list(record.get("missing", {}).values()), "notes": list(protocol.notes),
        "figures": figures, "tables": [table_views(store, protocol, t, points) for t in protocol.tables],
        "entries": entry_views(protocol, record, points), "others": others,
    }
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    html = report_dir / "index.html"
    atomic_write(html, env.from_string(PAGE).render(**context).encode("utf-8"))
    html.chmod(0o644)
    return html
