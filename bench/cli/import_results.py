"""`bench import`: published RD curves (CompressAI-style JSON or bpp,metric CSV) into a
results folder as reference codecs, for plots and as BD-rate anchors."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import _options as O
from ._command import register_command


@register_command("import", short_help="Import published RD curves as reference codecs.", help="Import published RD curves (CompressAI-style JSON with name/results.bpp/"
                               "results.psnr-rgb..., or a CSV of bpp + metric columns) as reference codecs.")
def import_(
    files: List[Path] = typer.Argument(..., help="Result files (.json or .csv)."),
    out: Path = O.Out,
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Dataset the curves were measured on "
                                          "(default: the file's 'dataset' field, else its folder name)."),
    name: Optional[str] = typer.Option(None, "--name", help="Curve name (default: the JSON 'name', or the CSV file stem)."),
) -> None:
    from ..errors import BenchError
    from ..store import Store

    if name and len(files) > 1:
        raise BenchError("--name applies to one file; import files one at a time to name each")
    store = Store(out)
    with store.writer_lock():
        for f in files:
            _import_one(store, f, dataset, name)


def _import_one(store, path: Path, dataset: str | None, name: str | None) -> None:
    from ..analysis.references import import_reference
    curves = import_reference(store, path, dataset=dataset, name=name)
    summary = ", ".join(f"{m} ({len(b)} points" + (f"; {curves.dropped[m]} non-finite left out" if curves.dropped.get(m)
                                                   else "") + ")" for m, (b, _) in curves.metrics.items())
    typer.echo(f"{path}: reference '{curves.name}' on {curves.dataset_hint}: {summary}")
