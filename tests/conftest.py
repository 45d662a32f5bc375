"""Shared fixtures: the Kodak folder, small image folders, and a CLI runner."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.store import JobRow

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KODAK = Path(os.environ.get("BENCH_DATA", ROOT.parent / "shared" / "datasets")) / "kodak"
BENCH = [sys.executable, "-m", "bench.cli"]


def kodak_or_skip() -> Path:
    if not (KODAK / "kodim01.png").exists():
        pytest.skip(f"Kodak not found at {KODAK} (set BENCH_DATA to the folder holding kodak/)")
    return KODAK


@pytest.fixture
def kodak() -> Path:
    return kodak_or_skip()


def smooth_image(seed: int, h: int = 192, w: int = 256) -> np.ndarray:
    """A natural-ish test picture: smooth gradients plus a little texture (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / (17 + seed) + c) * np.cos(y / (23 + c)) for c in range(3)], -1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_images(folder: Path, sizes: list[tuple[int, int]], prefix: str = "img") -> Path:
    """Smooth test images <prefix><i>.png of the given (H, W) sizes in a new folder."""
    folder.mkdir(parents=True)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(smooth_image(i, h, w)).save(folder / f"{prefix}{i}.png")
    return folder


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_images(tmp_path / "imgs", [(192, 256)] * 3)


@pytest.fixture
def env(tmp_path) -> dict:
    """Environment for CLI subprocesses: isolated cache, no colour codes."""
    return {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "NO_COLOR": "1", "TERM": "dumb",
            "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def run_cli(args: list[str], env: dict, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(BENCH + args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)


def job_row(**fields) -> JobRow:
    """A job row with only the given fields set (the rest None), for tests that fabricate a store."""
    required = {f.name: None for f in dataclasses.fields(JobRow) if f.default is dataclasses.MISSING}
    return JobRow(**{**required, **fields})
