"""The executor interface: planned jobs in, finished rows out, as soon as each is done.

The runner commits every row it receives (the store stays with the runner), so an
executor never touches the store, and a new engine (a cluster backend) is one more class
with a `run` method. Rows may come back in any order; a job whose worker is lost is
returned as a failed row, never dropped. The runner iterates `run` in a thread of its own
(metrics go on meanwhile) and calls `close` from its main thread to stop a run part-way.
An ok row may carry its decoded reconstruction (bench.pipeline.worker.attach_pixels) so
the metric stage need not decode its PNG again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from ...store.schema import JobRow


class Executor(ABC):
    name: str = "executor"

    def __init__(self, out_root: Path, verify: bool = False):
        self.out_root, self.verify = Path(out_root), verify

    @abstractmethod
    def run(self, jobs: list[JobRow]) -> Iterator[JobRow]:
        """Yield one finished row per job."""

    def close(self) -> None:
        """Release workers or devices (called once the run is over)."""
