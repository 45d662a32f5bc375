"""`bench weights list|status|fetch`: the networks' weights, where they were found, how to add them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ._command import register_group

weights_app = register_group("weights", help="Network weights of the metrics (LPIPS, DISTS, FID/KID, MUSIQ, CLIP-IQA) and codec checkpoints: list, status, fetch.")
NAMES_HELP = "Weight names, or a prefix such as compressai/mbt2018-mean (default: the metric networks')."


def _names(names: Optional[list[str]]) -> list[str]:
    from ..weights import select
    return select(list(names or []))


@weights_app.command("list", help="Every known weight file: what it is, its sha256, who uses it, where it comes from.")
def list_weights() -> None:
    from ..weights import REGISTRY, sha_text
    table = Table(caption="checks: tensors = sha256 of the canonical tensors (same for every format); "
                          "file = sha256 of the file; file-prefix = only the 8-hex prefix in the official name is "
                          "published (a weak check); unpublished = no hash is published (results record the "
                          "file's sha256). Every check hashes the file's current content.")
    for col in ("weights", "used by", "file", "check", "sources (in order after BENCH_WEIGHTS_DIR)"):
        table.add_column(col, overflow="fold")
    for s in REGISTRY.values():
        sources = "\n".join(f"{src.kind}: {src.where}" for src in s.sources)
        table.add_row(f"{s.name}\n[dim]{s.title}[/]", ", ".join(s.used_by), s.filename, sha_text(s), sources)
    Console(width=200).print(table)


@weights_app.command("status", help="Where each weight file was found and verified on this machine, or how to add it.")
def status(names: Optional[list[str]] = typer.Argument(None, help=NAMES_HELP)) -> None:
    from ..weights import find, missing_message, spec, weights_dir
    console = Console(width=200)
    table = Table(caption=f"weights folder: {weights_dir()} (BENCH_WEIGHTS_DIR)")
    for col in ("weights", "used by", "status", "found at"):
        table.add_column(col, overflow="fold")
    missing = 0
    for n in _names(names):
        found, rejected = find(n)
        s = spec(n)
        if found:
            where = f"{found.path}\n[dim]({found.source}; file sha256 {found.sha256})[/]"
            note = "".join(f"\n[yellow]rejected {c.path}: {p}[/]" for c, p in rejected)
            table.add_row(n, ", ".join(s.used_by), "[green]verified[/]", where + note)
        else:
            missing += 1
            table.add_row(n, ", ".join(s.used_by), "[red]missing[/]", missing_message(s, rejected))
    console.print(table)
    if missing:
        console.print(f"{missing} missing: `bench run` skips a metric that needs one (with a warning) and stops "
                      "before a codec that needs one starts.")


@weights_app.command("fetch", help="Install verified weights into the weights folder: download, or copy --from a file.")
def fetch(names: Optional[list[str]] = typer.Argument(None, help=NAMES_HELP + " Missing ones are fetched."),
          from_file: Optional[Path] = typer.Option(None, "--from", help="Install this local file (one name only)."),
          timeout: float = typer.Option(30.0, help="Network timeout in seconds per download.")) -> None:
    from ..errors import BenchError
    from ..weights import fetch as do_fetch
    from ..weights import find
    console = Console(stderr=True)
    todo = _names(names)
    if from_file is not None:
        if len(todo) != 1 or not names:
            raise BenchError("--from installs one file: name its weights, e.g. `bench weights fetch musiq-koniq --from FILE`")
        if not from_file.is_file():
            raise BenchError(f"--from {from_file}: no such file")
    failed = []
    for n in todo:
        found, _ = find(n)
        if found and from_file is None:
            console.print(f"{n}: already verified at {found.path} ({found.source})")
            continue
        try:
            r = do_fetch(n, from_file=from_file, timeout=timeout)
            console.print(f"[green]{n}[/]: installed and verified at {r.path}")
        except BenchError as exc:
            failed.append(n)
            console.print(f"[red]{n}[/]: {exc}")
    if failed:
        raise typer.Exit(1)
