"""The metric API and its registry.

Per-image metrics take batched tensors in [0, 1], ref and dist Bx3xHxW, and an optional
Bx1xHxW soft mask in [0, 1]; they return one value per image (shape [B]). The harness
calls a mask-capable metric three times: full image (mask=None), inside the ROI (mask)
and outside it (1 - mask), storing the results as `name`, `roi-name` and `bg-name`.

Distribution metrics (FID, KID) see every image of a (codec, rate) group through
`update()` and give one dataset-level value from `compute()`.

Everything a report or BD-rate needs to treat a metric correctly (direction, range,
kind, mask support, weights) is class-level data, so no code branches on metric names.
"""

from __future__ import annotations

from typing import Any, ClassVar

METRICS: dict[str, type["Metric"]] = {}

KINDS = ("full-reference", "no-reference", "distribution")


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
        return {"name": cls.name, "kind": cls.kind, "higher_is_better": cls.higher_is_better,
                "supports_mask": cls.supports_mask, "range": list(cls.value_range),
                "unit": cls.unit, "label": cls.label or cls.name, "weights": list(cls.weights),
                "mask_note": cls.mask_note}


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
    METRICS[cls.name] = cls
    return cls


_discovered = False


def discover_metrics() -> dict[str, type[Metric]]:
    """Import every module of bench.metrics once, so their @register_metric runs."""
    global _discovered
    if not _discovered:
        import bench.metrics as pkg

        from ..plugins import import_submodules
        import_submodules(pkg.__name__, pkg.__path__)
        _discovered = True
    return METRICS


def get_metric_class(name: str) -> type[Metric]:
    from ..errors import unknown_name
    metrics = discover_metrics()
    if name not in metrics:
        raise unknown_name("metric", name, metrics, "Run `bench list metrics`.")
    return metrics[name]
