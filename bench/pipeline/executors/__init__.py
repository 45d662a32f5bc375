"""Executors: how planned jobs become finished rows. A local process pool for CPU codecs,
an in-process device executor for codecs on a device (and `--workers 0`), and a Ray
executor for a local Ray instance or a cluster (it imports `ray` only when built)."""

from .base import Executor
from .device import DeviceExecutor
from .process_pool import ProcessPool
from .ray_cluster import RayExecutor

__all__ = ["DeviceExecutor", "Executor", "ProcessPool", "RayExecutor"]
