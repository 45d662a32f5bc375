"""What `bench run --protocol` and `bench report --protocol` do, kept out of the CLI
modules so those stay a thin layer of options."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..errors import BenchError


def run_protocol_command(*, protocol: str | None, codec_options: list[str] | None, limit_images: int | None,
                         dry_run: bool, datasets: list[str], codecs: list[str], metrics: list[str],
                         rates: str | None, target_bpp: str | None, roi_masks: str | None, out: Path, workers: int,
                         device: str, verify_decode: bool, codec_paths: list[str], batch_size: int,
                         console: Console) -> int:
    """Returns the exit code: 0 all that could run ran, 1 some job failed."""
    from . import load_protocol
    from .execute import (
        ProtocolRunOptions,
        print_missing,
        print_plan,
        print_summary,
        run_protocol,
    )
    from .options import parse_codec_options
    from .plan import Filters, make_plan

    if not protocol:
        raise BenchError("--codec-option, --limit-images and --dry-run go with --protocol NAME "
                         "(see `bench list protocols`)")
    for flag, value in (("--rates", rates), ("--target-bpp", target_bpp), ("--roi-masks", roi_masks)):
        if value:
            raise BenchError(f"{flag} does not combine with --protocol: the protocol file sets them; "
                             "copy it and edit the copy, then pass --protocol FILE.toml")
    if limit_images is not None and limit_images < 1:
        raise BenchError(f"--limit-images must be 1 or more, got {limit_images}")
    p = load_protocol(protocol)
    user = parse_codec_options(codec_options, p)
    plan = make_plan(p, user, Filters(datasets, codecs, metrics), codec_paths, limit_images, out)
    if dry_run:
        console.print(f"protocol [bold]{p.name}[/] ({p.title}): {len(plan.calls)} run(s) would go to {out}")
        print_plan(plan, console)
        print_missing(plan, console)
        return 0
    from ..pipeline.models import resolve_device
    o = ProtocolRunOptions(out=Path(out), workers=workers, device=resolve_device(device), verify_decode=verify_decode,
                           codec_paths=codec_paths, batch_size=batch_size)
    result = run_protocol(plan, o, console)
    print_summary(plan, result, console)
    return 1 if result.failed_jobs or result.failed_calls else 0


def report_protocol_command(*, protocol: str, out: Path, report_dir: Path | None, title: str | None) -> Path:
    from ..report.builder import ensure_self_contained
    from ..report.protocol import build_protocol_report
    from ..store import Store
    from . import load_protocol
    p = load_protocol(protocol)
    store = Store(out, create=False)
    html = build_protocol_report(store, p, report_dir or Path(out) / "report" / f"protocol-{p.name}", title=title)
    ensure_self_contained(html)
    return html
