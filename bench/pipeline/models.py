"""What one process holds loaded on one device during a run: codec instances (built from
their `--codecs` spec and `load()`-ed once) and metric networks, so a model is built once
per run and process, never per job. The device comes from `--device` (resolve_device).
"""

from __future__ import annotations

from typing import Any

from ..codec import Codec, make_codec, use_codec_paths
from ..errors import BenchError


def resolve_device(device: str) -> str:
    """`--device`: auto (cuda when visible, else cpu), cpu, cuda or cuda:N."""
    if device == "auto":
        from ..environment import may_have_cuda
        if not may_have_cuda():
            return "cpu"
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise BenchError(f"--device {device}: no CUDA device is visible here; use --device cpu")
    elif device != "cpu":
        raise BenchError(f"--device must be auto, cpu or cuda[:N], got '{device}'")
    return device


class Models:
    def __init__(self, device: str = "cpu", codec_paths: list[str] | None = None):
        self.device = device
        self.codec_paths = list(codec_paths or [])
        use_codec_paths(self.codec_paths)
        self._codecs: dict[str, Codec] = {}
        self._metrics: dict[str, Any] = {}

    def codec(self, spec: str) -> Codec:
        if spec not in self._codecs:
            codec = make_codec(spec, self.codec_paths)
            codec.load(self.device if codec.uses_device else "cpu")
            self._codecs[spec] = codec
        return self._codecs[spec]

    def metric(self, name: str):
        if name not in self._metrics:
            from ..metrics import get_metric_class
            self._metrics[name] = get_metric_class(name)(device=self.device)
        return self._metrics[name]


def make_metrics(names: list[str], models: Models, missing: dict[str, str], console) -> list:
    """The metric objects that can run here; each that cannot goes into `missing` (name -> why)
    and is announced, and the caller carries on with the rest."""
    from ..metrics import METRICS
    metrics = []
    for name in names:
        reason = METRICS.load(name).unavailable()
        if not reason:
            try:
                metrics.append(models.metric(name))
                continue
            except BenchError as exc:
                reason = str(exc)
        missing[name] = reason
        console.print(f"[yellow]warning:[/] metric '{name}' skipped: {reason}")
    return metrics
