"""Metric plugins: one module per metric family; see base.py for the API."""

from .base import (
    METRICS,
    DistributionMetric,
    Metric,
    discover_metrics,
    get_metric_class,
    metric_metadata,
    register_metric,
)

__all__ = ["METRICS", "Metric", "DistributionMetric", "register_metric", "discover_metrics", "get_metric_class",
           "metric_metadata"]
