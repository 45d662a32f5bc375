"""Planning: codecs x rate points x images (x mask) -> jobs, each with a cache key.

The cache key is what makes resume and re-use safe: it changes when anything that can
change the result changes (codec name, its describe() hash, the rate point, the image's
pixels, the mask's pixels) and nothing else (not paths, not the run).
"""

from __future__ import annotations

import hashlib
import json

from ..codec import Codec
from ..datasets import Dataset
from ..masks.pairing import MaskRef
from ..store.schema import JobRow


def cache_key(codec: str, config_hash: str, setting: str, image_hash: str, mask_hash: str | None) -> str:
    blob = json.dumps([codec, config_hash, setting, image_hash, mask_hash or ""])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def rate_points(codec: Codec, rates: list[float], targets: list[float]) -> list[tuple[float | None, float | None, str]]:
    """(rate, target_bpp, setting) per point; explicit --rates are range-checked here."""
    if targets:
        return [(None, float(t), f"target_bpp={float(t):g}") for t in targets]
    chosen = rates or list(codec.default_rates)
    return [(r := codec.check_rate(x), None, f"{codec.rate_param}={r:g}") for x in chosen]


def plan_jobs(dataset: Dataset, codecs: dict[str, Codec], rates: list[float], targets: list[float],
              masks: tuple[str, dict[str, MaskRef | str]] | None = None) -> list[JobRow]:
    mask_set, pairs = masks if masks else (None, {})
    jobs = []
    for spec, codec in codecs.items():
        config = codec.config_hash()
        for rate, target, setting in rate_points(codec, rates, targets):
            for img in dataset.images:
                ref = pairs.get(img.name) if mask_set else None
                mref = ref if isinstance(ref, MaskRef) else None
                jobs.append(JobRow(
                    key=cache_key(codec.name, config, setting, img.pixel_hash, mref.sha256 if mref else
                                  (f"missing:{mask_set}" if mask_set else None)),
                    dataset=dataset.name, image=img.name, image_path=img.path, image_hash=img.pixel_hash,
                    height=img.height, width=img.width, codec=codec.name, codec_spec=spec,
                    config_hash=config, rate_param=codec.rate_param, rate=rate, target_bpp=target,
                    setting=setting, mask_set=mask_set, mask_path=mref.path if mref else None,
                    mask_hash=mref.sha256 if mref else None,
                    error=ref if isinstance(ref, str) else None))
    return jobs
