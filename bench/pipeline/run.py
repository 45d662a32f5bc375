"""`bench run`: plan -> encode/decode through executors -> store -> metrics -> summary.

Pipelined: the codec stage runs in a thread (executors: local pool, in-process device, Ray)
and the runner stores each finished row and feeds it to the per-image metrics at once, so
metric networks load and compute while codecs still encode (`--staged`: the old order,
every codec job first, kept for measuring). Dataset-level metrics (FID, KID) need whole
groups and run last.

Crash safety: each finished job is one committed transaction; a re-run of the same
command plans the same cache keys and skips every key already stored as ok (failed jobs
are tried again). Executors keep only a few jobs in flight, so Ctrl-C or a crash loses at
most those.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import uuid
from contextlib import contextmanager, nullcontext

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
from ..environment import environment, usable_cpus
from ..errors import BenchError
from ..metrics import METRICS
from ..metrics.base import metric_metadata
from ..store import JobRow, Store
from .executors import DeviceExecutor, Executor, ProcessPool
from .models import Models, make_metrics
from .options import DEFAULT_CODECS, DEFAULT_METRICS, RunOptions, RunReport
from .plan import plan_jobs
from .worker import pixels

__all__ = ["DEFAULT_CODECS", "DEFAULT_METRICS", "RunOptions", "RunReport", "run"]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)


def _label(job: JobRow) -> str:
    return f"{job.codec} {job.setting} {job.image}"


def executor_for(codec: Codec, opts: RunOptions) -> str:
    """With --executor ray every job is a Ray task; locally, network codecs on an accelerator
    and everything with --workers 0 run in this process ("device"), the rest in the process
    pool ("pool")."""
    if opts.executor == "ray":
        return "ray"
    return "device" if (codec.uses_device and opts.device != "cpu") or opts.workers == 0 else "pool"


def make_executor(name: str, opts: RunOptions, models: Models, keep_pixels: bool) -> Executor:
    if name == "ray":
        from .executors.ray_cluster import RayExecutor
        return RayExecutor(opts.out, opts.verify_decode, max(opts.workers, 1), opts.codec_paths, opts.address,
                           opts.device, keep_pixels)
    if name == "pool":
        return ProcessPool(opts.out, opts.verify_decode, opts.workers, opts.codec_paths, keep_pixels)
    return DeviceExecutor(opts.out, models, opts.verify_decode, opts.batch_size, keep_pixels)


@contextmanager
def cores_left_to_metrics(busy: int):
    """While `busy` cores run codec workers, torch in this process uses the cores left (at least
    one), then its own default again: two metric threads beside two busy workers on two cores
    cost a psnr run ~2 s of CPU in spinning threads (measured)."""
    torch = sys.modules.get("torch")
    if torch is None or busy <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, usable_cpus() - busy)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


_DONE = object()


class _Codecs(threading.Thread):
    """The codec stage in a thread of its own: executors one after the other, each finished row
    onto a queue, so the runner stores rows and computes metrics while codecs keep working."""

    def __init__(self, work: list[tuple[Executor, list[JobRow]]]):
        super().__init__(name="bench-codecs", daemon=True)
        self.work, self.rows, self.error = work, queue.Queue(), None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            for ex, jobs in self.work:
                for row in ex.run(jobs):
                    if self.stopping.is_set():
                        return
                    self.rows.put(row)
        except BaseException as exc:        # re-raised in the runner's thread
            self.error = exc
        finally:
            self.rows.put(_DONE)

    def finished_rows(self):
        while True:
            try:
                row = self.rows.get(timeout=0.2)     # a timeout: Ctrl-C reaches the main thread
            except queue.Empty:
                continue
            if row is _DONE:
                if self.error is not None:
                    raise self.error
                return
            yield row

    def stop(self) -> None:
        self.stopping.set()
        for ex, _ in self.work:
            ex.close()
        self.join(timeout=10)


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
        ctask = progress.add_task("encode/decode", total=len(todo))
        mtask = progress.add_task("metrics", total=None, visible=False)
        t0 = time.perf_counter()
        metric_s = [0.0]
        metrics: list = []
        feed = None
        fed: set[str] = set()

        def start_metrics() -> None:
            nonlocal metrics, feed
            from .image_metrics import MetricFeed
            metrics = make_metrics(metric_names, models, report.missing_metrics, console)
            per_image = [m for m in metrics if m.kind != "distribution"]
            if per_image:
                feed = MetricFeed(store, per_image, opts.device, opts.batch_size, lambda n: progress.advance(mtask, n))

        def measure(fn, *args, **kw) -> None:      # the "metrics" stage time: computing, not loading
            t = time.perf_counter()
            fn(*args, **kw)
            metric_s[0] += time.perf_counter() - t

        pipelined = not opts.staged and bool(metric_names)
        per_image_wanted = any(metric_metadata(n)["kind"] != "distribution" for n in metric_names)
        names = {j.key: executor_for(codecs[j.codec_spec], opts) for j in todo}
        work = [(make_executor(n, opts, models, keep_pixels=pipelined and per_image_wanted),
                 [j for j in todo if names[j.key] == n])
                for n in dict.fromkeys(names.values())]
        stage = _Codecs(work)
        stage.start()                       # workers spawn while the metric networks load here
        busy = 0                            # cores the codec workers keep busy on this machine
        if "pool" in names.values() or ("ray" in names.values() and opts.address is None):
            busy = opts.workers
        sharing = nullcontext()
        try:
            if pipelined:
                start_metrics()
                progress.update(mtask, visible=feed is not None)
                sharing = cores_left_to_metrics(busy)
            with sharing:
                for row in stage.finished_rows():
                    store.put_job(row.outcome(run_id=run_id))
                    if row.status == "ok":
                        report.done += 1
                        if feed is not None:
                            fed.add(row.key)
                            measure(feed.add, row, pixels(row), fresh=True)
                        row.__dict__.pop("recon_pixels", None)     # a 6000x4000 image is 72 MB
                    else:
                        report.failed += 1
                        report.errors.append((_label(row), row.error))
                    progress.advance(ctask)
        except BaseException:
            stage.stop()
            raise
        for ex, _ in work:
            ex.close()
        report.stage_s["encode/decode"] = time.perf_counter() - t0

        if not pipelined:
            start_metrics()
            progress.update(mtask, visible=feed is not None)
        ok_rows = store.ok_jobs(j.key for j in jobs)
        if feed is not None:
            progress.update(mtask, total=len(ok_rows))
            for j in ok_rows:                   # rows from earlier runs (and all of them when staged)
                if j.key not in fed:
                    measure(feed.add, j)
            measure(feed.flush)
            report.stage_s["metrics"] = metric_s[0]
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
