"""`bench list codecs|metrics|datasets`."""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.table import Table

from . import _options as O
from ._command import register_group

list_app = register_group("list", help="List codecs, metrics or datasets with their metadata.")


def _rates(values) -> str:
    return ",".join(f"{v:g}" for v in values)


@list_app.command("codecs", help="Name, rate knob, default rates, ROI support, availability.")
def list_codecs(codec_path: Optional[list[str]] = O.CodecPath) -> None:
    from ..codec import CODECS, codec_listing, use_codec_paths
    from ..errors import BenchError
    use_codec_paths(list(codec_path or []))
    CODECS.import_undeclared()
    table = Table()
    for col in ("codec", "knob", "range", "default rates", "ROI", "bpp", "available", "description"):
        table.add_column(col)
    for name in CODECS.names():
        try:
            c, reason = codec_listing(name)
        except BenchError:           # recorded in load_errors, printed below
            continue
        lo, hi = c["rate_range"]
        table.add_row(name, c["rate_param"], f"{lo:g}..{hi:g}", _rates(c["default_rates"]),
                      "yes" if c["supports_roi"] else "no", c["bpp_source"],
                      "yes" if not reason else f"[red]not available: {reason}[/]", c["description"])
    console = Console(width=200)
    console.print(table)
    for file, err in CODECS.load_errors.items():
        console.print(f"[red]adapter {file} failed to load:[/] {err}")


@list_app.command("metrics", help="Name, kind, direction, range, mask support, weights, availability.")
def list_metrics() -> None:
    from ..metrics.base import discover_metrics
    table = Table()
    for col in ("metric", "kind", "better", "range", "ROI/bg variants", "weights", "available"):
        table.add_column(col)
    for name, cls in sorted(discover_metrics().items()):
        lo, hi = cls.value_range
        mask = ("yes" if cls.supports_mask else "no") + (f": {cls.mask_note}" if cls.mask_note else "")
        reason = cls.unavailable()
        table.add_row(name, cls.kind, "higher" if cls.higher_is_better else "lower", f"{lo:g}..{hi:g}", mask,
                      ", ".join(cls.weights) or "-", "yes" if not reason else f"[red]no: {reason}[/]")
    Console(width=220).print(table)


@list_app.command("datasets", help="Known datasets, where they are looked up, and whether they are present.")
def list_datasets() -> None:
    from ..datasets import DEFAULT_DATASET, load_manifests
    from ..paths import data_root
    table = Table(caption=f"data root: {data_root()} (set BENCH_DATA); default: {DEFAULT_DATASET}")
    for col in ("dataset", "images", "source", "present", "title"):
        table.add_column(col)
    for name, m in sorted(load_manifests().items()):
        folder = data_root() / name
        present = "embedded" if m.kind == "embedded" else ("yes" if folder.is_dir() and any(folder.iterdir())
                                                           else "no: bench datasets download " + name)
        table.add_row(name, str(m.image_count or "?"), m.kind, present, m.title)
    Console(width=200).print(table)


@list_app.command("protocols", help="Paper protocols (protocols/*.toml) for `bench run/report --protocol NAME`.")
def list_protocols() -> None:
    from ..protocols import load_protocol, protocol_names
    table = Table()
    for col in ("protocol", "paper", "datasets", "codec entries (id)", "metrics", "figures / tables"):
        table.add_column(col)
    for name in protocol_names():
        p = load_protocol(name)
        datasets = [g.key for g in p.runs]
        metrics = list(dict.fromkeys(m for g in p.runs for m in g.metrics))
        table.add_row(name, p.paper, "\n".join(datasets), ", ".join(e.id for e in p.codecs), ", ".join(metrics),
                      ", ".join([f.id for f in p.figures] + [t.id for t in p.tables]))
    Console(width=200).print(table)
