"""The in-process device executor: codecs run in this process on the run's device, each
loaded once (bench.pipeline.models.Models), shared with the metric stages.

Codecs that offer batch calls (Codec.batches()) get same-size images of one rate point
together, up to `batch_size` at a time; target-bpp jobs search their knob per image.
Also used for `--workers 0` (CPU codecs in this process, one image at a time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from ...store.schema import JobRow
from ..models import Models
from ..worker import execute, execute_batch
from .base import Executor


class DeviceExecutor(Executor):
    name = "device"

    def __init__(self, out_root: Path, models: Models, verify: bool = False, batch_size: int | None = None,
                 keep_pixels: bool = False):
        super().__init__(out_root, verify)
        self.models, self.batch_size, self.keep_pixels = models, max(1, batch_size or 8), keep_pixels
        self._closed = False

    def batches(self, jobs: list[JobRow]) -> list[list[JobRow]]:
        """Runs of jobs to execute together, in plan order of their first job."""
        groups: dict[tuple, list[JobRow]] = defaultdict(list)
        for j in jobs:
            together = j.target_bpp is None and not j.error and self._batches(j.codec_spec)
            key = (j.codec_spec, j.setting, j.height, j.width) if together else (j.key,)
            groups[key].append(j)
        return [g[i:i + self.batch_size] for g in groups.values() for i in range(0, len(g), self.batch_size)]

    def _batches(self, spec: str) -> bool:
        try:
            return self.models.codec(spec).batches()
        except Exception:       # a codec that fails to load fails each of its jobs, one by one
            return False

    def run(self, jobs: list[JobRow]) -> Iterator[JobRow]:
        for batch in self.batches(jobs):
            if self._closed:
                return
            if len(batch) == 1:
                yield execute(self.models, batch[0], self.out_root, self.verify, self.keep_pixels)
            else:
                yield from execute_batch(self.models, batch, self.out_root, self.verify, self.keep_pixels)

    def close(self) -> None:
        self._closed = True
