"""The local process pool: CPU codecs on `--workers` spawned processes.

At most `workers` jobs are in flight, so Ctrl-C or a crash loses at most those. A worker
that dies (a segfaulting codec library) costs its job one retry in a fresh pool; a job in
flight at two crashes is returned as failed.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ...store.schema import JobRow
from ..worker import init_worker, run_job
from .base import Executor


class ProcessPool(Executor):
    name = "process pool"

    def __init__(self, out_root: Path, verify: bool = False, workers: int = 2, codec_paths: list[str] = ()):
        super().__init__(out_root, verify)
        self.workers, self.codec_paths = workers, list(codec_paths)

    def run(self, jobs: list[JobRow]) -> Iterator[JobRow]:
        queue = list(reversed(jobs))
        crashes: dict[str, int] = {}
        ctx = multiprocessing.get_context("spawn")   # no fork: torch/OpenMP state must not be inherited
        while queue:
            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                       initializer=init_worker, initargs=(self.codec_paths, "cpu"))
            running: dict = {}
            try:
                while queue or running:
                    while queue and len(running) < self.workers:
                        job = queue.pop()
                        running[pool.submit(run_job, job, str(self.out_root), self.verify)] = job
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        running.pop(fut)
                        yield fut.result()
            except BrokenProcessPool:
                for fut, job in running.items():
                    if fut.done() and not fut.exception():
                        yield fut.result()
                        continue
                    crashes[job.key] = crashes.get(job.key, 0) + 1
                    if crashes[job.key] >= 2:
                        yield job.outcome(status="error", error="the codec's worker process crashed (twice)")
                    else:
                        queue.append(job)
            except BaseException:
                for proc in list((pool._processes or {}).values()):
                    proc.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
