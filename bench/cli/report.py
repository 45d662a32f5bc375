"""`bench report`: a static HTML report (RD plots, BD tables, gallery, metadata)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import _options as O
from ._command import register_command


@register_command("report", short_help="Static HTML report: plots, BD tables, gallery, metadata.", help="One static HTML page (plus images) with RD plots, BD-rate/BD-metric tables, "
                               "a reconstruction gallery and run metadata; opens from disk.")
def report(
    out: Path = O.Out,
    report_dir: Optional[Path] = typer.Option(None, "--report-dir", help="Where index.html goes (default: OUT/report)."),
    anchor: Optional[str] = typer.Option(None, "--anchor", "-a", help="BD anchor codec (default: jpeg if run, else the first codec)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="Comma-separated metrics; default: all stored."),
    method: str = typer.Option("pchip", "--method", help="BD method: pchip, cubic or akima."),
    bd_range: str = typer.Option("pair", "--bd-range", help="BD range: pair (each cell over its two curves' overlap) "
                                 "or common (one range per column for every codec; see `bench bdrate --range`)."),
    dataset: Optional[str] = O.Dataset,
    codecs: Optional[str] = O.Codecs,
    images: Optional[str] = typer.Option(None, "--images", help="Gallery images by stem, e.g. kodim23,kodim05 (default: the first two)."),
    bpp: Optional[float] = typer.Option(None, "--bpp", help="Gallery rate: each codec's point closest to this bpp "
                                        "(default: the lowest bpp every codec reaches)."),
    crop: int = typer.Option(256, "--crop", help="Gallery crop size in pixels."),
    at: Optional[str] = typer.Option(None, "--at", help="Gallery crop centre X,Y (default: ROI centre, else image centre)."),
    log_x: bool = typer.Option(False, "--log-x", help="Log-scale bpp axis in the plots."),
    title: str = typer.Option("Rate-distortion report", "--title"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="Lay the results out as the paper of protocols/NAME.toml "
                                           "does (its figures, BD tables and what was not run); writes "
                                           "OUT/report/protocol-NAME/index.html unless --report-dir."),
) -> None:
    from ..errors import BenchError
    from ..report.builder import ReportOptions, build_report, ensure_self_contained
    from ..store import Store

    if protocol:
        from ..protocols.commands import report_protocol_command
        typer.echo(str(report_protocol_command(protocol=protocol, out=out, report_dir=report_dir,
                                               title=None if title == "Rate-distortion report" else title)))
        return
    centre = None
    if at:
        try:
            x, y = (int(v) for v in at.split(","))
            centre = (x, y)
        except ValueError:
            raise BenchError(f"--at takes X,Y pixel coordinates, got '{at}'") from None
    if crop < 16:
        raise BenchError(f"--crop must be at least 16 pixels, got {crop}")
    store = Store(out, create=False)
    codec_list = O.split_list(codecs)
    if codec_list and anchor and anchor not in codec_list:
        codec_list.append(anchor)
    options = ReportOptions(anchor=anchor, metrics=O.split_list(metrics) or None, method=method, bd_range=bd_range,
                            dataset=dataset,
                            codecs=codec_list or None, gallery_images=O.split_list(images) or None, gallery_bpp=bpp,
                            crop=crop, crop_centre=centre, log_x=log_x, title=title)
    from ..paths import check_writable_dir
    target = report_dir or Path(out) / "report"
    try:
        check_writable_dir(target)
    except OSError:
        raise BenchError(f"cannot write the report into {target} (read-only?); pass --report-dir DIR "
                         "(the results are read from --out as they are)") from None
    html = build_report(store, target, options)
    ensure_self_contained(html)
    typer.echo(str(html))
