"""Shared shape of the no-reference metrics run through pyiqa (MUSIQ, CLIP-IQA).

They score the reconstruction alone (ref is ignored). Their networks load from verified
weight files only; `network=` hands in a ready module instead (tests use small stand-in
backbones built with pyiqa's own classes), so no code path ever builds a random network
silently.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import ClassVar

import torch

from .. import weights as W
from ._weighted import WeightedNetwork
from .base import Metric

NR_MASK_NOTE = "no-reference metric: not defined on a masked region (no roi-/bg- columns)"


class PyiqaNoReference(WeightedNetwork, Metric):
    libraries = ("pyiqa", "torch")
    packages = (("pyiqa", "pyiqa"),)
    kind = "no-reference"
    higher_is_better = True
    supports_mask = False
    mask_note = NR_MASK_NOTE
    weights_name: ClassVar[str]

    def __init__(self, device: str = "cpu", network: torch.nn.Module | None = None):
        super().__init__(device)
        if network is None:
            network = self.build_network(W.resolve(self.weights_name).path)
        self.net = network.to(device).eval().requires_grad_(False)

    @classmethod
    def build_network(cls, path: str | Path) -> torch.nn.Module:
        """pyiqa's architecture loaded from a weight file (the caller vouches for the file)."""
        with contextlib.redirect_stdout(io.StringIO()):   # pyiqa prints a line per loaded file
            return cls._build(str(path))

    @classmethod
    def _build(cls, path: str) -> torch.nn.Module:
        raise NotImplementedError

    def __call__(self, ref, dist, mask=None):
        with torch.no_grad():
            return self.net(dist.float()).reshape(-1)

