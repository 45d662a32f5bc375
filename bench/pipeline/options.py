"""What `bench run` is asked to do (RunOptions) and what it reports back (RunReport)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CODECS = ("jpeg", "webp", "avif")
DEFAULT_METRICS = ("psnr", "ms-ssim")


@dataclass
class RunOptions:
    dataset: str | None = None
    codecs: list[str] = field(default_factory=lambda: list(DEFAULT_CODECS))
    rates: list[float] = field(default_factory=list)
    target_bpp: list[float] = field(default_factory=list)
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    out: Path = Path("results")
    workers: int = 2
    device: str = "cpu"
    verify_decode: bool = False
    roi_masks: str | None = None
    codec_paths: list[str] = field(default_factory=list)
    batch_size: int | None = None          # None: chosen per metric from free device memory (bench.pipeline.batching)
    executor: str = "local"                # "local" (process pool + this process) or "ray"
    address: str | None = None             # --executor ray: a running cluster (None: start a local instance)
    staged: bool = False                   # metrics only after every codec job (the old order; for measuring)


@dataclass
class RunReport:
    planned: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)   # (job label, error)
    missing_metrics: dict[str, str] = field(default_factory=dict)
    dataset: str = ""
    skipped_images: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)   # wall time per stage
    run_id: str = ""
