"""Per-image metrics over finished reconstructions, batched on the device.

Fed one finished job at a time (`MetricFeed.add`), as the codecs deliver them, or over
stored jobs (`compute_per_image_metrics`): never re-runs a codec. Images of equal size
share a batch (size from bench.pipeline.batching); originals are decoded once per run and
kept in a bounded cache; a reconstruction handed over in memory by the worker is not
decoded again. Columns already stored are skipped, so adding a metric to a finished run
computes only that metric. One value (or the reason it is missing) per (job, column).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from typing import Callable

import numpy as np
import torch

from ..errors import BenchError
from ..image import load_rgb
from ..masks.pairing import load_mask
from ..metrics.base import Metric, unit_float
from ..store.schema import REGIONS, JobRow, MetricRow
from .batching import metric_batch_size


def columns_for(metric: Metric, has_mask: bool) -> list[str]:
    cols = [metric.name]
    if has_mask and metric.supports_mask:
        cols += [f"{r}-{metric.name}" for r in REGIONS]
    return cols


class Originals:
    """Decoded originals by image hash, least recently used out past `limit` bytes (every
    rate point of every codec needs the same original)."""

    def __init__(self, limit: int = 512 << 20):
        self.limit, self._items = limit, OrderedDict()

    def get(self, job: JobRow) -> np.ndarray:
        if job.image_hash in self._items:
            self._items.move_to_end(job.image_hash)
            return self._items[job.image_hash]
        image = load_rgb(job.image_path)
        self._items[job.image_hash] = image
        while self._items and sum(a.nbytes for a in self._items.values()) > self.limit:
            self._items.popitem(last=False)
        return image


def _evaluate(metric: Metric, ref, dist, mask) -> list[float]:
    with torch.no_grad():
        return [float(v) for v in metric(ref, dist, mask).detach().cpu().reshape(-1)]


class _Batch:
    """One batch's images on the device: uint8 once, float32 [0, 1] made once when a metric asks."""

    def __init__(self, jobs: list[JobRow], refs: list[np.ndarray], dists: list[np.ndarray], device: str):
        self.jobs = jobs
        # uint8 to the device, float there: a quarter of the bytes to copy. BCHW views of the HWC
        # pixels, no copy (one image of 6000x4000 is 72 MB per copy).
        self.u8 = {k: torch.from_numpy(a[0][None] if len(a) == 1 else np.stack(a)).to(device).permute(0, 3, 1, 2)
                   for k, a in (("ref", refs), ("dist", dists))}
        self._float: dict[str, torch.Tensor] = {}
        self.masks: list[torch.Tensor | None] = []
        self.mask_errors: list[str | None] = []
        for j in jobs:
            if not j.mask_path:
                self.masks.append(None)
                self.mask_errors.append(f"no mask for image '{j.image}'" if j.mask_set else None)
                continue
            try:
                m = load_mask(j.mask_path, (j.height, j.width))
                self.masks.append(torch.from_numpy(m)[None].to(device))
                self.mask_errors.append(None)
            except BenchError as exc:
                self.masks.append(None)
                self.mask_errors.append(str(exc))

    def images(self, metric: Metric, which: str) -> torch.Tensor:
        if metric.input_dtype == "uint8":
            return self.u8[which]
        if which not in self._float:
            self._float[which] = unit_float(self.u8[which])
        return self._float[which]


def _empty_region(job: JobRow, mask: torch.Tensor, region: str) -> str | None:
    """Why a region metric is undefined for this image (NULL in tables), or None."""
    covered = float(mask.mean())
    if region == "bg" and covered >= 1.0:
        return f"no background: the ROI mask of '{job.image}' covers the whole image ({job.mask_path})"
    if region == "roi" and covered <= 0.0:
        return f"no ROI: the mask of '{job.image}' is all background ({job.mask_path})"
    return None


def _compute_column(metric: Metric, batch: _Batch, idx: list[int], region: str | None):
    """Values for the images idx of a batch; on failure fall back to one image at a time."""
    def mask_for(ids):
        if region is None:
            return None
        m = torch.stack([batch.masks[i] for i in ids])
        return m if region == "roi" else 1.0 - m
    try:
        vals = _evaluate(metric, batch.images(metric, "ref")[idx], batch.images(metric, "dist")[idx], mask_for(idx))
        return [(i, v, None) for i, v in zip(idx, vals)]
    except Exception as exc:
        if len(idx) == 1:
            return [(idx[0], None, f"{type(exc).__name__}: {exc}" if not isinstance(exc, BenchError) else str(exc))]
        out = []
        for i in idx:
            out += _compute_column(metric, batch, [i], region)
        return out


class MetricFeed:
    """Finished jobs in, metric rows stored as each size group fills a batch; `flush` at the end."""

    def __init__(self, store, metrics: list[Metric], device: str, batch_size: int | None = None,
                 progress: Callable[[int], None] | None = None, originals: Originals | None = None):
        self.store, self.device, self.requested, self.progress = store, device, batch_size, progress
        self.metrics = [m for m in metrics if m.kind != "distribution"]
        self.originals = originals or Originals()
        self.written = 0
        self._pending: dict[tuple[int, int], list[tuple[JobRow, np.ndarray | None, bool]]] = defaultdict(list)
        self._sizes: dict[tuple[int, int], int] = {}
        for m in self.metrics:
            meta, versions = m.metadata(), m.versions()
            store.put_metric_info(m.name, {**meta, "region": "full"}, versions)
            if m.supports_mask:
                for r in REGIONS:
                    store.put_metric_info(f"{r}-{m.name}", {**meta, "region": r}, versions)

    def add(self, job: JobRow, recon: np.ndarray | None = None, fresh: bool = False) -> None:
        """A finished ok job (fresh: just written, so no metric of it is stored yet)."""
        if not self.metrics:
            return
        size = (job.height, job.width)
        if size not in self._sizes:
            self._sizes[size] = metric_batch_size(self.metrics, *size, self.device, self.requested)
        group = self._pending[size]
        group.append((job, recon, fresh))
        if len(group) >= self._sizes[size]:
            self._pending[size] = []
            self._run(group)

    def flush(self) -> None:
        for size, group in list(self._pending.items()):
            self._pending[size] = []
            if group:
                self._run(group)

    def _run(self, items: list[tuple[JobRow, np.ndarray | None, bool]]) -> None:
        stale = [j.key for j, _, fresh in items if not fresh]
        done = self.store.metric_columns_done(stale) if stale else {}
        todo = [it for it in items if any(c not in done.get(it[0].key, set())
                                          for m in self.metrics for c in columns_for(m, bool(it[0].mask_set)))]
        self._advance(len(items) - len(todo))
        if todo:
            self._compute(todo, done)

    def _compute(self, items: list[tuple[JobRow, np.ndarray | None, bool]], done: dict[str, set[str]]) -> None:
        chunk = [it[0] for it in items]
        try:
            refs = [self.originals.get(j) for j in chunk]
            dists = [r if r is not None else load_rgb(self.store.abspath(j.recon_path)) for j, r, _ in items]
            batch = _Batch(chunk, refs, dists, self.device)
        except BenchError as exc:   # an original or reconstruction vanished/corrupt
            self.store.put_metrics([MetricRow(j.key, c, None, str(exc)) for j in chunk for m in self.metrics
                                    for c in columns_for(m, bool(j.mask_set))])
            return self._advance(len(chunk))
        rows = []
        for m in self.metrics:
            need = [i for i, j in enumerate(chunk) if m.name not in done.get(j.key, set())]
            if need:
                rows += [MetricRow(chunk[i].key, m.name, v, e) for i, v, e in _compute_column(m, batch, need, None)]
            if not m.supports_mask:
                continue
            for region in REGIONS:
                col = f"{region}-{m.name}"
                need = [i for i, j in enumerate(chunk) if j.mask_set and col not in done.get(j.key, set())]
                ok = [i for i in need if batch.masks[i] is not None]
                rows += [MetricRow(chunk[i].key, col, None, batch.mask_errors[i]) for i in need if batch.masks[i] is None]
                empty = {i: _empty_region(chunk[i], batch.masks[i], region) for i in ok}
                rows += [MetricRow(chunk[i].key, col, None, why) for i, why in empty.items() if why]
                ok = [i for i in ok if not empty[i]]
                if ok:
                    rows += [MetricRow(chunk[i].key, col, v, e) for i, v, e in _compute_column(m, batch, ok, region)]
        self.store.put_metrics(rows)
        self.written += sum(1 for r in rows if r.value is not None)
        self._advance(len(chunk))

    def _advance(self, n: int) -> None:
        if self.progress and n:
            self.progress(n)


def compute_per_image_metrics(store, jobs: list[JobRow], metrics: list[Metric], device: str,
                              batch_size: int | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Fill missing metric columns for the given stored ok jobs; returns the number of values written."""
    feed = MetricFeed(store, metrics, device, batch_size, progress)
    for j in jobs:
        feed.add(j)
    feed.flush()
    return feed.written
