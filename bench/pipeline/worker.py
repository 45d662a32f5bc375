"""Running jobs: encode, decode, write artifacts, return the finished row.

The same functions run inside a pool worker process (`run_job`, with the process's own
Models) and in the main process (the device executor). Exceptions become the row's
error: one failing image never stops the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..codec import Codec
from ..codec.verify_decode import verify_in_fresh_process
from ..errors import BenchError
from ..image import atomic_write, load_rgb, pixel_sha256, png_bytes
from ..store.schema import JobRow
from .models import Models

_models: Models | None = None      # the pool worker process's loaded codecs

# Jobs reach a worker image-major (every rate point of an image in a row), so a few decoded
# originals save a PNG decode and a pixel hash per job (the audit: 8 decodes per image).
_ORIGINALS: OrderedDict[tuple, np.ndarray] = OrderedDict()
_ORIGINALS_BYTES = 192 << 20            # bounded: huge images are simply decoded again


def original(job: JobRow) -> np.ndarray:
    """The job's original image, checked against its planned pixel hash once per file version."""
    st = os.stat(job.image_path)
    key = (job.image_path, job.image_hash, st.st_mtime_ns, st.st_size)
    if key in _ORIGINALS:
        _ORIGINALS.move_to_end(key)
        return _ORIGINALS[key].copy()      # a copy: a codec may edit its input in place
    image = load_rgb(job.image_path)
    if pixel_sha256(image) != job.image_hash:
        raise BenchError(f"{job.image_path} changed since the run was planned; re-run")
    _ORIGINALS[key] = image.copy()
    while _ORIGINALS and sum(a.nbytes for a in _ORIGINALS.values()) > _ORIGINALS_BYTES:
        _ORIGINALS.popitem(last=False)
    return image


def attach_pixels(row: JobRow, recon: np.ndarray | None) -> JobRow:
    """Hand the decoded reconstruction to the runner with the row (not a stored field), so the
    metric stage needs not decode its PNG again."""
    row.__dict__["recon_pixels"] = recon
    return row


def pixels(row: JobRow) -> np.ndarray | None:
    return row.__dict__.get("recon_pixels")


def init_worker(codec_paths: list[str], device: str = "cpu", threads: int | None = None) -> None:
    """threads: torch/OpenMP threads for this worker (its share of the cores), set before a
    codec imports torch; a user's OMP_NUM_THREADS wins."""
    global _models
    if threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    _models = Models(device, codec_paths)


def run_job(job: JobRow, out_root: str, verify: bool = False, keep_pixels: bool = False) -> JobRow:
    """Entry point of a pool worker process."""
    if _models is None:
        init_worker([])
    return execute(_models, job, Path(out_root), verify, keep_pixels)


def artifact_paths(job: JobRow, data: bytes, recon_hash: str, ext: str) -> tuple[str, str]:
    """Content-addressed, relative to the results folder."""
    bits = hashlib.sha256(data).hexdigest()
    return (f"artifacts/bitstreams/{job.codec}/{bits[:2]}/{bits}.{ext}",
            f"artifacts/recon/{recon_hash[:2]}/{recon_hash}.png")


def failed(job: JobRow, exc: BaseException) -> JobRow:
    if isinstance(exc, BenchError):
        return job.outcome(status="error", error=str(exc))
    tb = traceback.extract_tb(exc.__traceback__)      # a codec bug on one image: say where
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return job.outcome(status="error", error=f"{type(exc).__name__}: {exc}{where}")


def prepare(models: Models, job: JobRow) -> tuple[Codec, np.ndarray, np.ndarray | None]:
    """The job's codec, original image (checked against its planned pixel hash) and ROI map."""
    if job.error:                       # planned with a problem (a missing mask)
        raise BenchError(job.error)
    codec = models.codec(job.codec_spec)
    try:
        image = original(job)
    except FileNotFoundError:
        raise BenchError(f"{job.image_path} disappeared since the run was planned; restore it and re-run") from None
    roi = None
    if codec.supports_roi and job.mask_path:
        from ..masks.pairing import load_mask
        roi = load_mask(job.mask_path, image.shape[:2])
    return codec, image, roi


def finish(models: Models, job: JobRow, codec: Codec, image: np.ndarray, data, recon, rate, detail: dict | None,
           encode_s: float, decode_s: float, out_root: Path, verify: bool) -> JobRow:
    """Check the codec's output, write the artifacts, and fill the row's outcome."""
    if not isinstance(data, (bytes, bytearray)) or len(data) == 0:
        raise BenchError(f"codec '{job.codec}' returned an empty or non-bytes bitstream")
    recon = np.asarray(recon)
    if recon.shape != image.shape or recon.dtype != np.uint8:
        raise BenchError(f"codec '{job.codec}' decoded {recon.shape} {recon.dtype}, expected {image.shape} uint8")
    recon_hash = pixel_sha256(recon)
    bits_rel, recon_rel = artifact_paths(job, bytes(data), recon_hash, codec.extension)
    atomic_write(out_root / bits_rel, bytes(data))
    if not (out_root / recon_rel).exists():
        atomic_write(out_root / recon_rel, png_bytes(recon))
    verified = None
    if verify:
        problem = verify_in_fresh_process(job.codec_spec, out_root / bits_rel, recon_hash, models.codec_paths,
                                          codec.device)
        if problem:
            raise BenchError(f"--verify-decode: {problem}")
        verified = 1
    h, w = image.shape[:2]
    return job.outcome(status="ok", error=None, rate=rate, bytes=len(data), bpp=codec.rate_bits(data) / (h * w),
                       bpp_source=codec.bpp_source, encode_s=encode_s, decode_s=decode_s, bitstream_path=bits_rel,
                       recon_path=recon_rel, recon_hash=recon_hash, verified=verified,
                       detail=json.dumps(detail, default=str) if detail else None)


def execute(models: Models, job: JobRow, out_root: Path, verify: bool = False, keep_pixels: bool = False) -> JobRow:
    """One job, start to finish; with keep_pixels an ok row carries its reconstruction."""
    try:
        codec, image, roi = prepare(models, job)
        t0 = time.perf_counter()
        if job.target_bpp is None:
            data, rate, detail = codec.encode(image, job.rate, roi=roi), job.rate, None
        else:
            from ..codec.rate_target import encode_at_target
            data, rate, detail = encode_at_target(codec, image, job.target_bpp, roi=roi)
        t1 = time.perf_counter()
        recon = codec.decode(data)
        t2 = time.perf_counter()
        row = finish(models, job, codec, image, data, recon, rate, detail, t1 - t0, t2 - t1, out_root, verify)
        return attach_pixels(row, np.asarray(recon)) if keep_pixels else row
    except Exception as exc:
        return failed(job, exc)


def execute_batch(models: Models, jobs: list[JobRow], out_root: Path, verify: bool = False,
                  keep_pixels: bool = False) -> list[JobRow]:
    """Jobs of one codec spec and rate point whose images share one size, through the codec's
    batch calls; times per image are the batch's divided by its size. A batch that fails
    falls back to one job at a time, so one bad image costs only its own row."""
    if len(jobs) == 1:
        return [execute(models, jobs[0], out_root, verify, keep_pixels)]
    try:
        prepared = [prepare(models, j) for j in jobs]
        codec = prepared[0][0]
        images, rois = [p[1] for p in prepared], [p[2] for p in prepared]
        t0 = time.perf_counter()
        data = codec.encode_batch(images, jobs[0].rate, rois)
        t1 = time.perf_counter()
        recons = codec.decode_batch(data)
        t2 = time.perf_counter()
        if len(data) != len(jobs) or len(recons) != len(jobs):
            raise BenchError(f"codec '{jobs[0].codec}' batch calls returned {len(data)} bitstreams and "
                             f"{len(recons)} images for {len(jobs)} inputs")
    except Exception:
        return [execute(models, j, out_root, verify, keep_pixels) for j in jobs]
    n = len(jobs)
    out = []
    for job, image, d, r in zip(jobs, images, data, recons):
        try:
            row = finish(models, job, codec, image, d, r, job.rate, {"batch": n}, (t1 - t0) / n,
                         (t2 - t1) / n, out_root, verify)
            out.append(attach_pixels(row, np.asarray(r)) if keep_pixels else row)
        except Exception as exc:
            out.append(failed(job, exc))
    return out
