"""The local process pool: CPU codecs on `--workers` spawned processes.

At most twice `workers` jobs are in flight (each worker has its next job queued, so it never
waits on the runner), so Ctrl-C or a crash loses at most those. Jobs go out image-major
(every rate point of an image in a row) so a worker's small cache of decoded originals hits.
A worker that dies (a segfaulting codec library) costs only its own job: the jobs in flight
then are run again one at a time in a fresh pool, and a job that crashes a worker twice on
its own is returned as failed.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ...environment import usable_cpus
from ...store.schema import JobRow
from ..worker import init_worker, run_job
from .base import Executor


def image_major(jobs: list[JobRow]) -> list[JobRow]:
    """Plan order (codec, rate, image) regrouped so one image's jobs are adjacent."""
    first = {}
    for i, j in enumerate(jobs):
        first.setdefault((j.codec_spec, j.image_hash), i)
    return sorted(jobs, key=lambda j: first[(j.codec_spec, j.image_hash)])


class ProcessPool(Executor):
    name = "process pool"

    def __init__(self, out_root: Path, verify: bool = False, workers: int = 2, codec_paths: list[str] = (),
                 keep_pixels: bool = False):
        super().__init__(out_root, verify)
        self.workers, self.codec_paths, self.keep_pixels = workers, list(codec_paths), keep_pixels
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def _start(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")   # no fork: torch/OpenMP state must not be inherited
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                         initializer=init_worker, initargs=(self.codec_paths, "cpu", max(1, usable_cpus() // self.workers)))
        return self._pool

    def run(self, jobs: list[JobRow]) -> Iterator[JobRow]:
        queue = list(reversed(image_major(jobs)))
        crashes: dict[str, int] = {}
        suspects: set[str] = set()     # in flight when a worker died: re-run one at a time
        while queue and not self._closed:
            pool = self._start()
            running: dict = {}
            try:
                while (queue or running) and not self._closed:
                    while queue and len(running) < 2 * self.workers and not (suspects & {j.key for j in running.values()}):
                        if queue[-1].key in suspects and running:
                            break
                        running[pool.submit(run_job, queue[-1], str(self.out_root), self.verify, self.keep_pixels)] = queue[-1]
                        queue.pop()            # only once submitted: a broken pool refuses submit()
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        row = fut.result()     # raises if its worker died: the job stays in `running`
                        suspects.discard(running.pop(fut).key)
                        yield row
            except BrokenProcessPool:
                if self._closed:
                    return
                alone = len(running) == 1      # only then is the job in flight the one that crashed
                for fut, job in running.items():
                    if fut.done() and not fut.exception():
                        suspects.discard(job.key)
                        yield fut.result()
                        continue
                    if alone:
                        crashes[job.key] = crashes.get(job.key, 0) + 1
                    if crashes.get(job.key, 0) >= 2:
                        suspects.discard(job.key)
                        yield job.outcome(status="error", error="the codec's worker process crashed (twice)")
                    else:
                        suspects.add(job.key)
                        queue.append(job)
            except BaseException:
                self._terminate()
                raise
            pool.shutdown(wait=True)

    def _terminate(self) -> None:
        pool = self._pool
        if pool is None:
            return
        for proc in list((pool._processes or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Also stops a run in progress (the runner's Ctrl-C): workers are terminated."""
        self._closed = True
        self._terminate()
