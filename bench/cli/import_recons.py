"""`bench import-recons`: reconstructions of a codec nobody can run here (released with a
paper) stored as that codec's rows, then measured by the same metric stages as `bench run`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..pipeline.batching import RULE as BATCH_RULE
from . import _options as O
from ._command import register_command

HELP = """Import reconstructions made elsewhere (released PerCo, DiffEIC,
StableCodec, ... outputs) as the rows of codec --codec, and compute
metrics on them as `bench run` does: results, bdrate, plot and report
then treat them like any codec.

Layout: one subfolder of DIR per rate point; its name is the label
(rows get setting "point=<label>"):
  DIR/<point>/<image stem>.png    reconstruction, same HxW as the original
                                  (.png .bmp .ppm .tif .tiff)
  DIR/<point>/<image stem>.<ext>  its bitstream (any other suffix):
                                  bytes = file size, bpp source "files"
Without bitstreams: --bytes CSV with header image,rate,bytes (rate = the
<point> folder name, image = stem or file name): bpp source "declared".

Images match --dataset by file stem. Files naming no image are ignored
(a note); an image with no reconstruction or size at a point is stored
as a failed row and listed. A reconstruction whose size differs from its
original stops the import before anything is written. Importing again
rewrites nothing and computes only missing metrics.

Exit status: 0 all imported and measured; 1 some image missing or a
metric could not run (the rest are stored); 2 bad input."""


@register_command("import-recons", short_help="Import released reconstructions of a codec (bring your own recons).",
                  help=HELP)
def import_recons(
    folder: Path = typer.Argument(..., metavar="DIR", help="DIR with one subfolder per rate point (see above)."),
    codec: str = typer.Option(..., "--codec", help="Name the rows get in tables and plots, e.g. perco."),
    dataset: Optional[str] = O.Dataset,
    out: Path = O.Out,
    metrics: Optional[str] = O.Metrics,
    bytes_csv: Optional[Path] = typer.Option(None, "--bytes", help="CSV image,rate,bytes of declared sizes "
                                             "(instead of bitstream files in DIR)."),
    device: str = O.Device,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Images per metric batch (equal sizes are batched); " + BATCH_RULE + "."),
) -> None:
    from ..pipeline.import_recons import ImportOptions
    from ..pipeline.import_recons import import_recons as run_import
    from ..pipeline.models import resolve_device
    from ..pipeline.options import DEFAULT_METRICS

    console = Console(stderr=True)
    opts = ImportOptions(folder=folder, codec=codec, dataset=dataset, out=out,
                         metrics=O.split_list(metrics) or list(DEFAULT_METRICS), bytes_csv=bytes_csv,
                         device=resolve_device(device), batch_size=batch_size)
    report = run_import(opts, console)
    for setting, image, why in report.missing[:20]:
        console.print(f"[red]missing[/] {codec} {setting} {image}: {why}")
    if len(report.missing) > 20:
        console.print(f"[red]... and {len(report.missing) - 20} more missing[/] (see `bench export`)")
    for name, reason in report.missing_metrics.items():
        console.print(f"[red]metric '{name}' could not run:[/] {reason}")

    from ..analysis.rd_points import rd_points
    from ..store import Store
    from .results import print_points
    store = Store(out, create=False)
    print_points(rd_points(store, dataset=report.dataset, codecs=[codec]), Console(), configs=store.codec_configs())
    if report.missing or report.missing_metrics:
        raise typer.Exit(1)
