"""`bench bdrate`: BD-rate / BD-metric tables against an anchor codec, from stored results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import BenchError
from . import _options as O
from ._command import register_command


@register_command("bdrate", short_help="BD-rate / BD-metric table against an anchor codec.", help="BD-rate (or BD-metric) table per dataset against an anchor codec: one row per "
                               "codec, one column per metric (ROI/background columns when masks were used).")
def bdrate(
    anchor: str = typer.Option(..., "--anchor", "-a", help="Anchor codec (its name, or its label when it has several configurations)."),
    out: Path = O.Out,
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="Comma-separated metrics (e.g. psnr,ms-ssim,lpips); "
                                          "default: every stored metric. psnr_mse selects PSNR of the mean MSE."),
    method: str = typer.Option("pchip", "--method", help="pchip (JVET CTC), cubic (VCEG-M33) or akima."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, csv or latex."),
    kind: str = typer.Option("rate", "--kind", help="rate (BD-rate, %) or metric (BD-PSNR, BD-LPIPS, ...)."),
    dataset: Optional[str] = O.Dataset,
    codecs: Optional[str] = O.Codecs,
    min_points: int = typer.Option(4, "--min-points", help="Fewest points a curve needs."),
    non_monotonic: str = typer.Option("drop", "--non-monotonic", help="drop (dominated points), sort or error."),
    references: bool = typer.Option(True, "--references/--no-references", help="Include imported reference curves."),
    bd_range: str = typer.Option("pair", "--range", help="pair: each cell over its two curves' overlap (JVET/VCEG "
                                 "tools); common: every cell of a column over one range, the intersection of all "
                                 "its curves' ranges, anchor included, so rows compare."),
    save: Optional[Path] = typer.Option(None, "--save", help="Also write the tables to this file."),
) -> None:
    from ..analysis.bd_tables import build_tables, render
    from ..analysis.curves import column_meta, load_points
    from ..store import Store

    if fmt not in ("md", "csv", "latex"):
        raise BenchError(f"--format must be md, csv or latex, got '{fmt}'")
    store = Store(out, create=False)
    codec_list = O.split_list(codecs)
    if codec_list and anchor not in codec_list:
        codec_list.append(anchor.split(":")[0].split("@")[0])
    points = load_points(store, dataset=dataset, codecs=codec_list or None, references=references)
    tables = build_tables(points, anchor, lambda c: column_meta(store, c), metrics=O.split_list(metrics) or None,
                          kind=kind, method=method, min_points=min_points, non_monotonic=non_monotonic,
                          bd_range=bd_range)
    if fmt == "csv":
        text = render(tables[0], "csv") + "".join(render(t, "csv").split("\n", 1)[1] for t in tables[1:])
    else:
        text = "\n".join(render(t, fmt) for t in tables)
    typer.echo(text.rstrip("\n"))
    if save:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text(text)
