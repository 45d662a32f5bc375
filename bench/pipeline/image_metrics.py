"""Per-image metrics over stored reconstructions, batched on the device.

Reads originals, reconstructions and masks from disk (never re-runs a codec), batches
images of equal size, and stores one value per (job, column). Columns already stored
are skipped, so adding a metric to a finished run computes only that metric.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np
import torch

from ..errors import BenchError
from ..image import load_rgb
from ..masks.pairing import load_mask
from ..metrics.base import Metric
from ..store.schema import REGIONS, JobRow, MetricRow


def columns_for(metric: Metric, has_mask: bool) -> list[str]:
    cols = [metric.name]
    if has_mask and metric.supports_mask:
        cols += [f"{r}-{metric.name}" for r in REGIONS]
    return cols


def _to_tensor(arrays: list[np.ndarray], device: str) -> torch.Tensor:
    batch = np.stack(arrays).astype(np.float32) / 255.0
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().to(device)


def _evaluate(metric: Metric, ref, dist, mask) -> list[float]:
    with torch.no_grad():
        return [float(v) for v in metric(ref, dist, mask).detach().cpu().reshape(-1)]


class _Batch:
    def __init__(self, store, jobs: list[JobRow], device: str):
        self.jobs = jobs
        self.ref = _to_tensor([load_rgb(j.image_path) for j in jobs], device)
        self.dist = _to_tensor([load_rgb(store.abspath(j.recon_path)) for j in jobs], device)
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
        vals = _evaluate(metric, batch.ref[idx], batch.dist[idx], mask_for(idx))
        return [(i, v, None) for i, v in zip(idx, vals)]
    except Exception as exc:
        if len(idx) == 1:
            return [(idx[0], None, f"{type(exc).__name__}: {exc}" if not isinstance(exc, BenchError) else str(exc))]
        out = []
        for i in idx:
            out += _compute_column(metric, batch, [i], region)
        return out


def compute_per_image_metrics(store, jobs: list[JobRow], metrics: list[Metric], device: str,
                              batch_size: int = 8, progress: Callable[[int], None] | None = None) -> int:
    """Fill missing metric columns for the given ok jobs; returns the number of values written."""
    per_image = [m for m in metrics if m.kind != "distribution"]
    if not per_image or not jobs:
        return 0
    for m in per_image:
        meta, versions = m.metadata(), m.versions()
        store.put_metric_info(m.name, {**meta, "region": "full"}, versions)
        if m.supports_mask:
            for r in REGIONS:
                store.put_metric_info(f"{r}-{m.name}", {**meta, "region": r}, versions)
    done = store.metric_columns_done(j.key for j in jobs)
    todo = [j for j in jobs if any(c not in done.get(j.key, set())
                                   for m in per_image for c in columns_for(m, bool(j.mask_set)))]
    skipped = len(jobs) - len(todo)
    if progress and skipped:
        progress(skipped)
    groups: dict[tuple, list[JobRow]] = defaultdict(list)
    for j in todo:
        groups[(j.height, j.width)].append(j)
    written = 0
    for group in groups.values():
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            try:
                batch = _Batch(store, chunk, device)
            except BenchError as exc:   # an original or reconstruction vanished/corrupt
                rows = [MetricRow(j.key, c, None, str(exc)) for j in chunk for m in per_image
                        for c in columns_for(m, bool(j.mask_set))]
                store.put_metrics(rows)
                if progress:
                    progress(len(chunk))
                continue
            rows = []
            for m in per_image:
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
            store.put_metrics(rows)
            written += sum(1 for r in rows if r.value is not None)
            if progress:
                progress(len(chunk))
    return written
