"""Executors: how planned jobs become finished rows. A local process pool for CPU codecs,
an in-process device executor for codecs on a device (and `--workers 0`); a cluster
backend is one more Executor subclass."""

from .base import Executor
from .device import DeviceExecutor
from .process_pool import ProcessPool

__all__ = ["DeviceExecutor", "Executor", "ProcessPool"]
