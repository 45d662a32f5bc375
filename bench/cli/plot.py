"""`bench plot`: RD curves (one panel per metric, one figure per dataset) from stored results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import _options as O
from ._command import register_command


@register_command("plot", short_help="RD curves (PNG and PDF/SVG), one panel per metric.", help="RD curves with bpp on x: one panel per metric, one figure per dataset (and mask "
                             "set); full image solid, ROI dotted. Writes PNG and PDF/SVG.")
def plot(
    out: Path = O.Out,
    plot_dir: Optional[Path] = typer.Option(None, "--plot-dir", help="Where figures go (default: OUT/plots)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="Comma-separated metrics; default: all stored."),
    dataset: Optional[str] = O.Dataset,
    codecs: Optional[str] = O.Codecs,
    formats: str = typer.Option("png,pdf", "--formats", help="Comma-separated: png, pdf, svg."),
    log_x: bool = typer.Option(False, "--log-x", help="Log-scale bpp axis."),
    regions: str = typer.Option("full,roi", "--regions", help="Which of full, roi, bg to draw (when masks were used)."),
    references: bool = typer.Option(True, "--references/--no-references", help="Draw imported reference curves."),
    dpi: int = typer.Option(120, "--dpi", help="PNG resolution."),
) -> None:
    from ..analysis.bd_tables import check_metrics, select_columns
    from ..analysis.curves import column_meta, load_points
    from ..analysis.plots import REGION_STYLE, save_plots
    from ..errors import BenchError
    from ..store import Store

    region_list = O.split_list(regions)
    bad = [r for r in region_list if r not in REGION_STYLE]
    if bad or not region_list:
        raise BenchError(f"--regions takes full, roi, bg; got '{regions}'")
    store = Store(out, create=False)
    points = load_points(store, dataset=dataset, codecs=O.split_list(codecs) or None, references=references)
    metric_list = O.split_list(metrics) or None
    check_metrics(points, metric_list)
    written = save_plots(points, lambda c: column_meta(store, c), plot_dir or Path(out) / "plots",
                         lambda d, m: select_columns(points[points["dataset"] == d], metric_list, m),
                         formats=tuple(O.split_list(formats)), log_x=log_x, regions=tuple(region_list), dpi=dpi)
    for w in written:
        for path in w["files"].values():
            typer.echo(str(path))
