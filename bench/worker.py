"""What runs inside a codec worker process: encode, decode, write artifacts, return the row.

Everything the job needs travels in the job dict; the codec is rebuilt from its spec in
the worker (spawned processes share nothing with the parent). Exceptions become the
row's error: one failing image never stops the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .codec import Codec
from .codec_registry import discover, make_codec
from .errors import BenchError
from .image import atomic_write, load_rgb, pixel_sha256, png_bytes

_codecs: dict[str, Codec] = {}
_codec_paths: list[str] = []


def init_worker(codec_paths: list[str]) -> None:
    global _codec_paths
    _codec_paths = list(codec_paths)
    discover(_codec_paths)


def _codec(spec: str) -> Codec:
    if spec not in _codecs:
        _codecs[spec] = make_codec(spec, _codec_paths)
    return _codecs[spec]


def artifact_paths(job: dict, data: bytes, recon_hash: str, ext: str) -> tuple[str, str]:
    """Content-addressed, relative to the results folder."""
    bits = hashlib.sha256(data).hexdigest()
    return (f"artifacts/bitstreams/{job['codec']}/{bits[:2]}/{bits}.{ext}",
            f"artifacts/recon/{recon_hash[:2]}/{recon_hash}.png")


def _encode(codec: Codec, job: dict, image: np.ndarray, roi: np.ndarray | None):
    if job["target_bpp"] is None:
        return codec.encode(image, job["rate"], roi=roi), job["rate"], None
    from .rate_target import encode_at_target
    return encode_at_target(codec, image, job["target_bpp"], roi=roi)


def verify_in_fresh_process(spec: str, bitstream: Path, expected_hash: str) -> str | None:
    """Decode from the bytes alone in a new interpreter; None if identical, else why not."""
    cmd = [sys.executable, "-m", "bench.verify_decode", spec, str(bitstream)]
    for p in _codec_paths:
        cmd += ["--codec-path", p]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return f"decode in a fresh process failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
    got = proc.stdout.strip().splitlines()[-1]
    return None if got == expected_hash else "decode in a fresh process gave different pixels"


def execute(job: dict, out_root: str, verify: bool = False) -> dict:
    row = {k: job[k] for k in ("key", "dataset", "image", "image_hash", "image_path", "height", "width",
                               "codec", "config_hash", "rate_param", "rate", "target_bpp", "setting",
                               "mask_set", "mask_hash", "mask_path")}
    try:
        if job.get("mask_error"):
            raise BenchError(job["mask_error"])
        codec = _codec(job["codec_spec"])
        image = load_rgb(job["image_path"])
        if pixel_sha256(image) != job["image_hash"]:
            raise BenchError(f"{job['image_path']} changed since the run was planned; re-run")
        roi = None
        if codec.supports_roi and job.get("mask_path"):
            from .masks.pairing import load_mask
            roi = load_mask(job["mask_path"], image.shape[:2])
        t0 = time.perf_counter()
        data, rate, detail = _encode(codec, job, image, roi)
        t1 = time.perf_counter()
        recon = codec.decode(data)
        t2 = time.perf_counter()
        if not isinstance(data, (bytes, bytearray)) or len(data) == 0:
            raise BenchError(f"codec '{job['codec']}' returned an empty or non-bytes bitstream")
        recon = np.asarray(recon)
        if recon.shape != image.shape or recon.dtype != np.uint8:
            raise BenchError(f"codec '{job['codec']}' decoded {recon.shape} {recon.dtype}, "
                             f"expected {image.shape} uint8")
        recon_hash = pixel_sha256(recon)
        bits_rel, recon_rel = artifact_paths(job, bytes(data), recon_hash, codec.extension)
        root = Path(out_root)
        atomic_write(root / bits_rel, bytes(data))
        if not (root / recon_rel).exists():
            atomic_write(root / recon_rel, png_bytes(recon))
        verified = None
        if verify:
            problem = verify_in_fresh_process(job["codec_spec"], root / bits_rel, recon_hash)
            if problem:
                raise BenchError(f"--verify-decode: {problem}")
            verified = 1
        h, w = image.shape[:2]
        row.update(status="ok", error=None, rate=rate, bytes=len(data), bpp=8.0 * len(data) / (h * w),
                   bpp_source=codec.bpp_source, encode_s=t1 - t0, decode_s=t2 - t1,
                   bitstream_path=bits_rel, recon_path=recon_rel, recon_hash=recon_hash,
                   verified=verified, detail=json.dumps(detail, default=str) if detail else None)
    except BenchError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # a codec bug on one image: record it, keep the run going
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        row.update(status="error", error=f"{type(exc).__name__}: {exc}{where}")
    row["worker_pid"] = os.getpid()
    return row
