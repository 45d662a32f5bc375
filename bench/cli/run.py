"""`bench run`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..pipeline.batching import RULE as BATCH_RULE
from . import _options as O
from ._command import register_command


@register_command("run", short_help="Run codecs over a dataset, store bitstreams/reconstructions/metrics (resumable).",
                  help="Run codecs over a dataset, store bitstreams/reconstructions/metrics (resumable).\n\n"
                       "Exit status: 0 every job and every requested metric done; 1 some job failed or a requested "
                       "metric could not run (the rest are stored); 2 bad input; 130 interrupted (re-run to resume).")
def run(
    dataset: Optional[str] = O.Dataset,
    codecs: Optional[str] = O.Codecs,
    rates: Optional[str] = O.Rates,
    target_bpp: Optional[str] = typer.Option(None, "--target-bpp", help="Comma-separated target bpp values: per image, search the knob for the closest bpp."),
    metrics: Optional[str] = O.Metrics,
    out: Path = O.Out,
    workers: int = typer.Option(min(os.cpu_count() or 1, 8), "--workers", "-j", help="Codec worker processes (0 = in this process)."),
    device: str = O.Device,
    verify_decode: bool = typer.Option(False, "--verify-decode", help="Decode every bitstream again in a fresh process from its bytes alone; a mismatch fails the job."),
    roi_masks: Optional[str] = typer.Option(None, "--roi-masks", help="ROI mask set (masks/<set>/ or a folder): adds roi-/bg- metric columns and feeds ROI codecs."),
    codec_path: Optional[list[str]] = O.CodecPath,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Images per batch (equal sizes are batched), for metrics and for device codecs that take batches (those: 8 by default). Metrics: " + BATCH_RULE + "."),
    executor: str = typer.Option("local", "--executor", help="local: CPU codecs in a process pool (--workers), device codecs in this process; ray: every job a Ray task (CPU, or a GPU for device codecs), results stored here as they arrive."),
    address: Optional[str] = typer.Option(None, "--address", help="With --executor ray: the cluster to join (auto, host:port or ray://...); default: start a local Ray instance with --workers CPUs."),
    staged: bool = typer.Option(False, "--staged", help="Compute metrics only after every codec job (default: pipelined, metrics on each reconstruction as it arrives); for measuring."),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="Run a paper's whole evaluation from protocols/NAME.toml "
                                           "(or a .toml path; `bench list protocols`): its datasets, mask sets, codecs, rates "
                                           "and metrics, into one --out. What is missing here (codec, weights, dataset) is "
                                           "listed with its fix and the rest runs; --dataset/--codecs/--metrics pick a part."),
    codec_option: Optional[list[str]] = typer.Option(None, "--codec-option", help="With --protocol: options for one of "
                                                     "its codec entries, ID:key=value, e.g. sde:checkpoint=DIR (the "
                                                     "folder `bench train sde` wrote); repeatable."),
    limit_images: Optional[int] = typer.Option(None, "--limit-images", help="With --protocol: only the first N images "
                                               "(by name) of each dataset, for a quick check."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --protocol: print the runs and what is missing; run nothing."),
) -> None:
    from ..errors import BenchError
    from ..pipeline.models import resolve_device
    from ..pipeline.run import DEFAULT_CODECS, DEFAULT_METRICS, RunOptions
    from ..pipeline.run import run as run_bench
    from .results import print_points

    if workers < 0:
        raise BenchError("--workers must be 0 or more")
    if executor not in ("local", "ray"):
        raise BenchError(f"--executor must be local or ray, got '{executor}'")
    if address and executor != "ray":
        raise BenchError("--address needs --executor ray")
    console = Console(stderr=True)
    if protocol or codec_option or limit_images is not None or dry_run:
        from ..protocols.commands import run_protocol_command
        rc = run_protocol_command(
            protocol=protocol, codec_options=codec_option, limit_images=limit_images, dry_run=dry_run,
            datasets=[dataset] if dataset else [], codecs=O.split_list(codecs), metrics=O.split_list(metrics),
            rates=rates, target_bpp=target_bpp, roi_masks=roi_masks, out=out, workers=workers, device=device,
            verify_decode=verify_decode, codec_paths=list(codec_path or []), batch_size=batch_size, console=console)
        if rc:
            raise typer.Exit(rc)
        return
    opts = RunOptions(
        dataset=dataset, codecs=O.split_codecs(codecs) or list(DEFAULT_CODECS), rates=O.parse_rates(rates),
        target_bpp=O.parse_rates(target_bpp), metrics=O.split_list(metrics) or list(DEFAULT_METRICS),
        out=out, workers=workers, device=resolve_device(device), verify_decode=verify_decode,
        roi_masks=roi_masks, codec_paths=list(codec_path or []), batch_size=batch_size, executor=executor,
        address=address, staged=staged)
    report = run_bench(opts, console)
    for label, error in report.errors[:20]:
        console.print(f"[red]failed[/] {label}: {error}")
    if len(report.errors) > 20:
        console.print(f"[red]... and {len(report.errors) - 20} more failed jobs[/] (see `bench export`)")
    for name, reason in report.missing_metrics.items():
        console.print(f"[red]metric '{name}' could not run:[/] {reason}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_s.items())
    missing = (f"; {len(report.missing_metrics)} requested metric(s) not computed: "
               f"{', '.join(report.missing_metrics)}") if report.missing_metrics else ""
    unread = f"; {len(report.skipped_images)} image(s) skipped as unreadable" if report.skipped_images else ""
    console.print(f"{report.done} jobs done, {report.failed} failed, {report.skipped} reused from earlier runs"
                  f"{missing}{unread}; {report.wall_s:.1f} s" + (f" ({stages})" if stages else ""))
    from ..analysis.rd_points import rd_points
    from ..store import Store
    codec_names = [s.partition(":")[0] for s in opts.codecs]
    store = Store(out, create=False)
    print_points(rd_points(store, dataset=report.dataset, codecs=codec_names), Console(),
                 configs=store.codec_configs())
    if report.failed or report.missing_metrics:
        raise typer.Exit(1)
