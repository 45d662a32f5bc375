"""The results store: the row schema (schema.py), upgrades of older stores
(migrations.py) and the SQLite database with its artifact files (store.py)."""

from .schema import (
    SCHEMA_VERSION,
    DatasetMetricRow,
    JobRow,
    MetricRow,
    ReferencePointRow,
)
from .store import DB_NAME, Store

__all__ = ["DB_NAME", "SCHEMA_VERSION", "DatasetMetricRow", "JobRow", "MetricRow", "ReferencePointRow", "Store"]
