"""`bench run`: plan -> encode/decode in a process pool -> store -> metrics -> summary.

Crash safety: each finished job is one committed transaction; a re-run of the same
command plans the same cache keys and skips every key already stored as ok (failed jobs
are tried again). At most `workers` jobs are in flight, so Ctrl-C or a crash loses at most
those, and a worker that dies (a segfaulting codec) costs that job, not the run.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .codec import Codec
from .codec_registry import discover, make_codec
from .datasets import resolve_dataset
from .environment import environment
from .errors import BenchError
from .jobs import Job, plan_jobs
from .metrics.base import get_metric_class
from .store import Store
from .worker import execute, init_worker

DEFAULT_CODECS = ("jpeg", "webp", "avif")
DEFAULT_METRICS = ("psnr", "ms-ssim")


@dataclass
class RunOptions:
    dataset: str | None = None
    codecs: list[str] = field(default_factory=lambda: list(DEFAULT_CODECS))
    rates: list[float] = field(default_factory=list)
    target_bpp: list[float] = field(default_factory=list)
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    out: Path = Path("results")
    workers: int = 2
    device: str = "cpu"
    verify_decode: bool = False
    roi_masks: str | None = None
    codec_paths: list[str] = field(default_factory=list)
    batch_size: int = 8


@dataclass
class RunReport:
    planned: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)   # (job label, error)
    missing_metrics: dict[str, str] = field(default_factory=dict)
    dataset: str = ""
    skipped_images: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)   # wall time per stage


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)


def _make_codecs(specs: list[str], paths: list[str]) -> dict[str, Codec]:
    discover(paths)
    codecs = {}
    for spec in specs:
        codecs[spec] = make_codec(spec, paths)
    return codecs


def _make_metrics(names: list[str], device: str, report: RunReport, console: Console) -> list:
    metrics = []
    for name in names:
        cls = get_metric_class(name)
        reason = cls.unavailable()
        if reason:
            report.missing_metrics[name] = reason
            console.print(f"[yellow]warning:[/] metric '{name}' skipped: {reason}")
            continue
        try:
            metrics.append(cls(device=device))
        except BenchError as exc:
            report.missing_metrics[name] = str(exc)
            console.print(f"[yellow]warning:[/] metric '{name}' skipped: {exc}")
    return metrics


def _label(job: Job) -> str:
    return f"{job.codec} {job.setting} {job.image}"


class _Executor:
    """Runs jobs in a bounded process pool (or in-process with workers=0) and commits each row."""

    def __init__(self, store: Store, opts: RunOptions, report: RunReport, advance):
        self.store, self.opts, self.report, self.advance = store, opts, report, advance

    def commit(self, job: Job, row: dict) -> None:
        row.pop("worker_pid", None)
        self.store.put_job(row)
        if row["status"] == "ok":
            self.report.done += 1
        else:
            self.report.failed += 1
            self.report.errors.append((_label(job), row["error"]))
        self.advance()

    def in_process(self, jobs: list[Job]) -> None:
        init_worker(self.opts.codec_paths)
        for job in jobs:
            self.commit(job, execute(job.as_dict(), str(self.store.root), self.opts.verify_decode))

    def pooled(self, jobs: list[Job]) -> None:
        queue = list(reversed(jobs))
        crashes: dict[str, int] = {}
        ctx = multiprocessing.get_context("spawn")   # no fork: torch/OpenMP state must not be inherited
        while queue:
            pool = ProcessPoolExecutor(max_workers=self.opts.workers, mp_context=ctx,
                                       initializer=init_worker, initargs=(self.opts.codec_paths,))
            running: dict = {}
            try:
                while queue or running:
                    while queue and len(running) < self.opts.workers:
                        job = queue.pop()
                        running[pool.submit(execute, job.as_dict(), str(self.store.root),
                                            self.opts.verify_decode)] = job
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        job = running.pop(fut)
                        self.commit(job, fut.result())
            except BrokenProcessPool:
                # A worker died (e.g. a segfault in a codec library): the jobs in flight get one more
                # try in a fresh pool; a job in flight at two crashes is recorded as failed.
                for fut, job in running.items():
                    if fut.done() and not fut.exception():
                        self.commit(job, fut.result())
                        continue
                    crashes[job.key] = crashes.get(job.key, 0) + 1
                    if crashes[job.key] >= 2:
                        self.commit(job, {**job.as_dict(), "status": "error",
                                          "error": "the codec's worker process crashed (twice)"})
                    else:
                        queue.append(job)
            except BaseException:
                for proc in list((pool._processes or {}).values()):
                    proc.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)


def run(opts: RunOptions, console: Console | None = None) -> RunReport:
    console = console or Console(stderr=True)
    report = RunReport()
    t_start = time.perf_counter()
    codecs = _make_codecs(opts.codecs, opts.codec_paths)
    metric_names = list(dict.fromkeys(opts.metrics))
    for name in metric_names:
        get_metric_class(name)           # unknown names fail before any work
    for t in opts.target_bpp:
        if not t > 0:
            raise BenchError(f"--target-bpp values must be positive, got {t:g}")
    dataset = resolve_dataset(opts.dataset)
    report.dataset, report.skipped_images = dataset.name, dataset.skipped
    for path, reason in dataset.skipped:
        console.print(f"[yellow]skipped image[/] {path}: {reason}")
    masks = None
    if opts.roi_masks:
        from .masks.pairing import pair_masks
        masks = pair_masks(opts.roi_masks, [i.name for i in dataset.images],
                           shapes={i.name: (i.height, i.width) for i in dataset.images})
        for stem, ref in masks[1].items():
            if isinstance(ref, str):
                console.print(f"[yellow]mask problem:[/] {ref}")
    jobs = plan_jobs(dataset, codecs, opts.rates, opts.target_bpp, masks)
    report.planned = len(jobs)

    store = Store(opts.out)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    env = environment()
    env.update(dataset=dataset.name, dataset_root=str(dataset.root), codecs=opts.codecs,
               metrics=metric_names, device=opts.device, roi_masks=opts.roi_masks)
    store.start_run(run_id, sys.argv, env)
    for spec, codec in codecs.items():
        store.put_codec_config(codec.config_hash(), codec.name, codec.describe())

    status = store.job_status(j.key for j in jobs)
    todo = [j for j in jobs if status.get(j.key) != "ok"]
    report.skipped = len(jobs) - len(todo)
    console.print(f"dataset [bold]{dataset.name}[/] ({len(dataset.images)} images), codecs "
                  f"{', '.join(codecs)}: {len(jobs)} jobs, {report.skipped} already done, {len(todo)} to run "
                  f"-> {opts.out}")

    with _progress(console) as progress:
        task = progress.add_task("encode/decode", total=len(todo))
        ex = _Executor(store, opts, report, lambda: progress.advance(task))
        gpu = [j for j in todo if codecs[j.codec_spec].device != "cpu"]
        cpu = [j for j in todo if codecs[j.codec_spec].device == "cpu"]
        t0 = time.perf_counter()
        if cpu:
            ex.pooled(cpu) if opts.workers > 0 else ex.in_process(cpu)
        if gpu:
            ex.in_process(gpu)
        report.stage_s["encode/decode"] = time.perf_counter() - t0

        metrics = _make_metrics(metric_names, opts.device, report, console)
        keys = [j.key for j in jobs]
        ok_rows = [dict(r) for r in store.jobs(f"status='ok' AND key IN ({','.join('?' * len(keys))})", tuple(keys))] \
            if keys else []
        per_image = [m for m in metrics if m.kind != "distribution"]
        if per_image and ok_rows:
            t0 = time.perf_counter()
            mtask = progress.add_task("metrics", total=len(ok_rows))
            from .metric_stage import compute_per_image_metrics
            compute_per_image_metrics(store, ok_rows, per_image, opts.device, opts.batch_size,
                                      lambda n: progress.advance(mtask, n))
            report.stage_s["metrics"] = time.perf_counter() - t0
        dist = [m for m in metrics if m.kind == "distribution"]
        if dist and ok_rows:
            t0 = time.perf_counter()
            from .distribution_stage import run_distribution_metrics
            dtask = progress.add_task("dataset metrics", total=None)
            run_distribution_metrics(store, ok_rows, dist, opts.device, lambda n=1: progress.advance(dtask, n))
            report.stage_s["dataset metrics"] = time.perf_counter() - t0
    env["missing_metrics"] = report.missing_metrics
    store.finish_run(run_id, env)
    store.close()
    report.wall_s = time.perf_counter() - t_start
    return report
