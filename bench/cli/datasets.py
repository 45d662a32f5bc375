"""`bench datasets list|download|verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from ._command import register_group

datasets_app = register_group("datasets", help="Download (resumable, verified) and check datasets.")


def _manifest(name: str):
    from ..datasets import load_manifests
    from ..errors import unknown_name
    manifests = load_manifests()
    if name not in manifests:
        raise unknown_name("dataset", name, manifests, "Run `bench datasets list`.")
    return manifests[name]


@datasets_app.command("download", help="Download NAME into $BENCH_DATA/NAME (resumes partial downloads).")
def download(name: str, root: Optional[Path] = typer.Option(None, "--root", help="Target folder (default: $BENCH_DATA/NAME).")) -> None:
    from ..datasets.download import download_dataset
    from ..paths import data_root
    manifest = _manifest(name)
    target = root or data_root() / name
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console) as progress:
        tasks: dict[str, int] = {}

        def make(label):
            def update(advance, total):
                if label not in tasks:
                    tasks[label] = progress.add_task(label, total=total)
                progress.update(tasks[label], advance=advance, total=total)
            return update
        notices: list[str] = []
        problems = download_dataset(manifest, target, make, notices.append)
    for line in notices:        # after the bars, so they are not overdrawn
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    for p in problems:
        console.print(f"[red]problem:[/] {p}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print(f"{name}: done in {target}", markup=False, highlight=False)


@datasets_app.command("verify", help="Check a downloaded dataset's pixels against its manifest "
                                     "or the hashes recorded at first download.")
def verify(name: str) -> None:
    from ..datasets import resolve_dataset
    ds = resolve_dataset(name)
    for path, reason in ds.skipped:
        typer.echo(f"problem: {path}: {reason}")
    typer.echo(f"{ds.name}: {len(ds.images)} images ok, {len(ds.skipped)} problems ({ds.root})"
               + (f"; {ds.hash_status}" if ds.hash_status else ""))
    if ds.skipped:
        raise typer.Exit(1)
