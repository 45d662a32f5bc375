"""The Ray executor (`--executor ray`): jobs as Ray tasks, on a local Ray instance or a cluster.

Why it looks like this:
- The store stays with the runner (this process commits each row it yields), so a cluster
  needs no shared results folder: a task runs `execute()` into a temporary folder on its
  node and sends the row back with its artifacts' bytes (bitstream, reconstruction PNG)
  through the object store; this process writes them under `out_root`.
- Originals (and masks, and `--codec-path` folders) are read by path on the worker: every
  node must see the dataset folder at the same path and run the same environment (this
  package, codec libraries, weights).
- Each Ray worker process keeps its loaded codecs (bench.pipeline.models.Models) between
  tasks, as a pool worker does. CPU codecs ask for one CPU; with a `device` other than cpu,
  codecs that use it ask for one GPU and run on "cuda" (Ray chooses which GPU).
- As in the local pool: at most twice as many jobs in flight as CPUs (`workers` on a local
  Ray, the cluster's CPUs otherwise: each worker has its next job waiting), so Ctrl-C loses
  only those; a worker killed mid-job gets
  its job one retry; a job that crashes twice, or fails in Ray, is returned as a failed
  row, never dropped. `close()` (from the runner's thread) cancels what is in flight.
- `ray` is imported only when this executor is built; Ray is started (or joined) on the
  first `run`, and shut down by `close()` only if this executor started it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...codec import make_codec
from ...errors import BenchError
from ...image import atomic_write
from ...store.schema import JobRow
from ..models import Models
from ..worker import attach_pixels, execute, failed, pixels
from .base import Executor

CRASHED = "the codec's worker process crashed (twice)"      # the local pool's words
NO_RAY = ("--executor ray needs the 'ray' package (pip install ray==2.60.0, or python3 tasks.py to "
          "rebuild the locked environment)")

_models: dict[tuple, Models] = {}       # per Ray worker process: (codec paths, device) -> loaded codecs
_remote = None                          # the Ray task, made on first use


def run_on_worker(job: JobRow, codec_paths: list[str], device: str, verify: bool,
                  keep_pixels: bool = False) -> tuple[JobRow, dict[str, bytes]]:
    """A Ray task: one job in a temporary results folder; its row (with its reconstruction's
    pixels when keep_pixels) and its artifacts' bytes."""
    key = (tuple(codec_paths), device)
    if key not in _models:
        _models[key] = Models(device, codec_paths)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        row = execute(_models[key], job, tmp, verify, keep_pixels)
        return row, {rel: (tmp / rel).read_bytes() for rel in (row.bitstream_path, row.recon_path) if rel}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _task():
    global _remote
    if _remote is None:
        import ray
        _remote = ray.remote(max_retries=1)(run_on_worker)     # a killed worker: one retry
    return _remote


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, out_root: Path, verify: bool = False, workers: int = 2, codec_paths: list[str] = (),
                 address: str | None = None, device: str = "cpu", keep_pixels: bool = False):
        super().__init__(out_root, verify)
        try:
            import ray
        except ImportError:
            raise BenchError(NO_RAY) from None
        self.ray, self.workers, self.codec_paths = ray, max(1, workers), list(codec_paths)
        self.address, self.device, self.keep_pixels = address, device, keep_pixels
        self._started = False             # shut down in close() only what this executor started
        self._gpu: dict[str, bool] = {}
        self._running: dict = {}          # in-flight task -> its job
        self._lock, self._closed = threading.Lock(), False

    def _connect(self) -> int:
        """Start or join Ray; how many jobs may be in flight."""
        ray = self.ray
        if not ray.is_initialized():
            quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            if self.address is None:
                ray.init(num_cpus=self.workers, **quiet)
                self._started = True
                return 2 * self.workers
            ray.init(address=self.address, **quiet)
        return 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _needs_gpu(self, spec: str) -> bool:
        if self.device == "cpu":
            return False
        if spec not in self._gpu:
            try:
                self._gpu[spec] = make_codec(spec, self.codec_paths).uses_device
            except Exception:       # its worker reports why it cannot be built
                self._gpu[spec] = False
        return self._gpu[spec]

    def _submit(self, job: JobRow):
        gpu = self._needs_gpu(job.codec_spec)
        task = _task().options(num_cpus=1, num_gpus=1 if gpu else 0)
        return task.remote(job, self.codec_paths, "cuda" if gpu else "cpu", self.verify, self.keep_pixels)

    def run(self, jobs: list[JobRow]) -> Iterator[JobRow]:
        if not jobs:
            return
        ray = self.ray
        with self._lock:
            if self._closed:
                return
            limit = self._connect()
            if any(self._needs_gpu(j.codec_spec) for j in jobs) and not ray.cluster_resources().get("GPU"):
                raise BenchError(f"--device {self.device}: the Ray cluster has no GPU; use --device cpu")
        queue = list(reversed(jobs))
        try:
            while queue or self._running:
                with self._lock:        # close() (the runner's other thread) cancels what is in _running
                    if self._closed:
                        return
                    while queue and len(self._running) < limit:
                        job = queue.pop()
                        self._running[self._submit(job)] = job
                    pending = list(self._running)
                try:
                    ready, _ = ray.wait(pending, num_returns=1, timeout=0.5)     # not under the lock
                except Exception:
                    if self._closed:        # close() shut down the Ray it started meanwhile
                        return
                    raise
                with self._lock:
                    if self._closed:
                        return
                    job = self._running.pop(ready[0]) if ready else None
                if job is not None:
                    yield self._collect(ready[0], job)
        finally:                        # Ctrl-C, an error, or the consumer stopped: cancel what is in flight
            with self._lock:
                self._cancel()

    def _cancel(self) -> None:
        for ref in self._running:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                pass
        self._running.clear()

    def _collect(self, ref, job: JobRow) -> JobRow:
        """The task's row, its artifacts written here; a task Ray lost is the job's failed row."""
        try:
            row, files = self.ray.get(ref)
            if pixels(row) is not None:      # a view into Ray's object store: own it before Ray frees it
                attach_pixels(row, np.array(pixels(row)))
        except self.ray.exceptions.WorkerCrashedError:
            return job.outcome(status="error", error=CRASHED)
        except self.ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc        # RayTaskError carries the task's exception
            lines = str(cause).strip().splitlines()
            return job.outcome(status="error", error=f"{type(exc).__name__}: {lines[0] if lines else ''}")
        try:
            for rel, data in files.items():
                if rel != row.recon_path or not (self.out_root / rel).exists():    # recons: content addressed
                    atomic_write(self.out_root / rel, data)
        except Exception as exc:
            return failed(job, exc)
        return row

    def close(self) -> None:
        """Also stops a run in progress (from another thread): its in-flight tasks are cancelled."""
        self._closed = True     # run() sees it within one 0.5 s wait and returns
        with self._lock:
            self._cancel()
            if self._started:
                self.ray.shutdown()
                self._started = False
