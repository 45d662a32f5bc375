"""`bench run`: plan -> encode/decode through executors -> store -> metrics -> summary.

Crash safety: each finished job is one committed transaction; a re-run of the same
command plans the same cache keys and skips every key already stored as ok (failed jobs
are tried again). Executors keep only a few jobs in flight, so Ctrl-C or a crash loses at
most those.
"""

from __future__ import annotations

import sys
import time
import uuid

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..codec import Codec, make_codec, use_codec_paths
from ..datasets import resolve_dataset
from ..environment import environment
from ..errors import BenchError
from ..metrics import METRICS
from ..store import JobRow, Store
from .executors import DeviceExecutor, Executor, ProcessPool
from .models import Models, make_metrics
from .options import DEFAULT_CODECS, DEFAULT_METRICS, RunOptions, RunReport
from .plan import plan_jobs

__all__ = ["DEFAULT_CODECS", "DEFAULT_METRICS", "RunOptions", "RunReport", "run"]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)


def _label(job: JobRow) -> str:
    return f"{job.codec} {job.setting} {job.image}"


def executor_for(codec: Codec, opts: RunOptions) -> str:
    """Network codecs on an accelerator, and everything with --workers 0, run in this process
    ("device"); the rest in the process pool ("pool")."""
    return "device" if (codec.uses_device and opts.device != "cpu") or opts.workers == 0 else "pool"


def executors(opts: RunOptions, models: Models) -> dict[str, Executor]:
    return {"pool": ProcessPool(opts.out, opts.verify_decode, opts.workers, opts.codec_paths),
            "device": DeviceExecutor(opts.out, models, opts.verify_decode, opts.batch_size)}


def run(opts: RunOptions, console: Console | None = None) -> RunReport:
    console = console or Console(stderr=True)
    report = RunReport()
    t_start = time.perf_counter()
    use_codec_paths(opts.codec_paths)
    codecs = {spec: make_codec(spec, opts.codec_paths) for spec in opts.codecs}
    metric_names = list(dict.fromkeys(opts.metrics))
    for name in metric_names:
        METRICS.entry(name)              # unknown names fail before any work (without importing metrics)
    for t in opts.target_bpp:
        if not t > 0:
            raise BenchError(f"--target-bpp values must be positive, got {t:g}")
    dataset = resolve_dataset(opts.dataset)
    report.dataset, report.skipped_images = dataset.name, dataset.skipped
    for path, reason in dataset.skipped:
        console.print(f"[yellow]skipped image[/] {path}: {reason}")
    masks = None
    if opts.roi_masks:
        from ..masks.pairing import pair_masks
        masks = pair_masks(opts.roi_masks, [i.name for i in dataset.images],
                           shapes={i.name: (i.height, i.width) for i in dataset.images})
        for stem, ref in masks[1].items():
            if isinstance(ref, str):
                console.print(f"[yellow]mask problem:[/] {ref}")
    jobs = plan_jobs(dataset, codecs, opts.rates, opts.target_bpp, masks)
    report.planned = len(jobs)
    for spec, codec in codecs.items():     # e.g. a missing checkpoint: one line now, not one per job
        rates = sorted({j.rate for j in jobs if j.codec_spec == spec and j.rate is not None})
        if opts.target_bpp:
            rates = list(codec.default_rates)   # the knob search may need any of them
        why = codec.unavailable_at(rates)
        if why:
            raise BenchError(f"codec '{spec}' cannot run here: {why}")

    store = Store(opts.out)
    try:
        with store.writer_lock():      # a second run on this folder stops here with a message
            _execute(opts, store, report, console, dataset, codecs, jobs, metric_names)
    finally:
        store.close()
    report.wall_s = time.perf_counter() - t_start
    return report


def _execute(opts: RunOptions, store: Store, report: RunReport, console: Console, dataset, codecs: dict,
             jobs: list, metric_names: list[str]) -> None:
    run_id = report.run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    env = environment()
    env.update(dataset=dataset.name, dataset_root=str(dataset.root), codecs=opts.codecs,
               metrics=metric_names, device=opts.device, roi_masks=opts.roi_masks)
    for spec, codec in codecs.items():
        for note in codec.warnings():
            console.print(f"[yellow]warning:[/] {note}")
            env.setdefault("codec_warnings", []).append(note)
    store.start_run(run_id, sys.argv, env)
    store.put_skipped_images(dataset.name, dataset.skipped, run_id)
    for spec, codec in codecs.items():
        store.put_codec_config(codec.config_hash(), codec.name, codec.describe())

    status = store.job_status(j.key for j in jobs)
    todo = [j for j in jobs if status.get(j.key) != "ok"]
    report.skipped = len(jobs) - len(todo)
    console.print(f"dataset [bold]{dataset.name}[/] ({len(dataset.images)} images), codecs "
                  f"{', '.join(codecs)}: {len(jobs)} jobs, {report.skipped} already done, {len(todo)} to run "
                  f"-> {opts.out}")

    models = Models(opts.device, opts.codec_paths)   # this process's codec models and metric networks
    with _progress(console) as progress:
        task = progress.add_task("encode/decode", total=len(todo))
        t0 = time.perf_counter()
        for name, ex in executors(opts, models).items():   # one after the other (pipelining: the scale issue)
            ex_jobs = [j for j in todo if executor_for(codecs[j.codec_spec], opts) == name]
            if not ex_jobs:
                continue
            try:
                for row in ex.run(ex_jobs):
                    store.put_job(row.outcome(run_id=run_id))
                    if row.status == "ok":
                        report.done += 1
                    else:
                        report.failed += 1
                        report.errors.append((_label(row), row.error))
                    progress.advance(task)
            finally:
                ex.close()
        report.stage_s["encode/decode"] = time.perf_counter() - t0

        metrics = make_metrics(metric_names, models, report.missing_metrics, console)
        ok_rows = store.ok_jobs(j.key for j in jobs)
        per_image = [m for m in metrics if m.kind != "distribution"]
        if per_image and ok_rows:
            t0 = time.perf_counter()
            mtask = progress.add_task("metrics", total=len(ok_rows))
            from .image_metrics import compute_per_image_metrics
            compute_per_image_metrics(store, ok_rows, per_image, opts.device, opts.batch_size,
                                      lambda n: progress.advance(mtask, n))
            report.stage_s["metrics"] = time.perf_counter() - t0
            for column, errs in store.metric_errors(j.key for j in ok_rows).items():
                console.print(f"[yellow]{column}: {len(errs)} value(s) not computed[/], e.g. {errs[0][1]}")
        dist = [m for m in metrics if m.kind == "distribution"]
        if dist and ok_rows:
            t0 = time.perf_counter()
            from .dataset_metrics import run_distribution_metrics
            dtask = progress.add_task("dataset metrics", total=None)
            run_distribution_metrics(store, ok_rows, dist, opts.device, lambda n=1: progress.advance(dtask, n))
            report.stage_s["dataset metrics"] = time.perf_counter() - t0
    env["missing_metrics"] = report.missing_metrics
    store.finish_run(run_id, env)
