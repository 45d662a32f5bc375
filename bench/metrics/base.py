"""The metric API and its registry.

Per-image metrics take batched tensors in [0, 1], ref and dist Bx3xHxW, and an optional
Bx1xHxW soft mask in [0, 1]; they return one value per image (shape [B]). The harness
calls a mask-capable metric three times: full image (mask=None), inside the ROI (mask)
and outside it (1 - mask), storing the results as `name`, `roi-name` and `bg-name`.

Distribution metrics (FID, KID) see every image of a (codec, rate) group through
`update()` and give one dataset-level value from `compute()`.

Everything a report or BD-rate needs to treat a metric correctly (direction, range,
kind, mask support, weights) is class-level data, so no code branches on metric names;
the registry reads it from the source without importing the metric (and torch).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, ClassVar

from ..plugins import Registry

METRICS = Registry("metric", "register_metric", "Run `bench list metrics`.", package="bench.metrics")

KINDS = ("full-reference", "no-reference", "distribution")
# The class attributes metadata() reports (every one has a default below or is set per metric).
METADATA_ATTRS = ("name", "kind", "higher_is_better", "supports_mask", "value_range", "unit", "label", "weights",
                  "mask_note", "from_mean_mse")


def _metadata(get: Callable[[str], Any]) -> dict[str, Any]:
    return {"name": get("name"), "kind": get("kind"), "higher_is_better": get("higher_is_better"),
            "supports_mask": get("supports_mask"), "range": list(get("value_range")), "unit": get("unit"),
            "label": get("label") or get("name"), "weights": list(get("weights")), "mask_note": get("mask_note"),
            "from_mean_mse": get("from_mean_mse")}


def unit_float(x):
    """8-bit images as float32 in [0, 1]: uint8 tensors divided by 255 (into one fresh contiguous
    tensor; the harness converts this way too), float input as it is."""
    import torch
    if x.dtype != torch.uint8:
        return x.float()
    return torch.empty(x.shape, dtype=torch.float32, device=x.device).copy_(x).div_(255.0)


class Metric:
    name: ClassVar[str]
    kind: ClassVar[str] = "full-reference"
    higher_is_better: ClassVar[bool]
    supports_mask: ClassVar[bool] = False
    value_range: ClassVar[tuple[float, float]] = (float("-inf"), float("inf"))
    unit: ClassVar[str] = ""
    label: ClassVar[str] = ""               # how plots/tables title the metric
    weights: ClassVar[tuple[str, ...]] = () # weight names the resolver must find
    mask_note: ClassVar[str] = ""           # e.g. why a masked variant is non-standard / undefined
    from_mean_mse: ClassVar[bool] = False   # also report the dataset value from mean MSE (PSNR)
    batchable: ClassVar[bool] = True        # images of equal size may share a batch
    # "uint8": the harness passes the 8-bit images as uint8 tensors (no float copy: PSNR);
    # "float": float32 in [0, 1]. Either way a metric must also accept float input.
    input_dtype: ClassVar[str] = "float"
    # Bytes of working memory per image pixel at batch 1 (measured, CPU float32); the harness
    # sizes batches from it and free memory. Metrics that tile large images bound it themselves.
    bytes_per_pixel: ClassVar[float] = 200.0

    def __init__(self, device: str = "cpu"):
        self.device = device

    def __call__(self, ref, dist, mask=None):
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        return {}

    @classmethod
    def unavailable(cls) -> str | None:
        """None when computable here; else what is missing (library, weight file + fix)."""
        return None

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        return _metadata(lambda attr: getattr(cls, attr))


class DistributionMetric(Metric):
    """Dataset-level metric over all images of one (codec, rate) group."""
    kind = "distribution"
    batchable = True

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, ref, dist) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError


def register_metric(cls: type[Metric]) -> type[Metric]:
    if cls.kind not in KINDS:
        raise TypeError(f"metric {cls.__qualname__}: kind must be one of {KINDS}")
    return METRICS.bind(cls.name, cls)


def discover_metrics() -> dict[str, type[Metric]]:
    """Every metric class (imports every metric module: for listings)."""
    return METRICS.load_all()


def get_metric_class(name: str) -> type[Metric]:
    return METRICS.load(name)


@lru_cache(maxsize=None)
def metric_metadata(name: str) -> dict[str, Any] | None:
    """metadata() of a registered metric, read without importing it where the source allows;
    None for a name no metric has (a column from an imported reference curve, say)."""
    if METRICS.canonical(name) is None:
        return None
    attrs = METRICS.static(name)
    if attrs is not None and all(a in attrs for a in METADATA_ATTRS if a != "name"):
        return _metadata(lambda attr: attrs.get(attr, name) if attr == "name" else attrs[attr])
    return METRICS.load(name).metadata()
