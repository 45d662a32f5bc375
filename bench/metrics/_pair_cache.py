"""Network features reused between calls.

LastPair: the last (reference, distorted) batch's, across regions: the metric stage asks a
mask-capable metric for the full, ROI and background values of the same batch in a row; only
the pooling differs, so the network runs once, not three times.

LastReference: the last reference batch's: reconstructions reach the metrics image-major
(every rate point of an image in a row), so the reference half of the network runs once
per image instead of once per rate point.
"""

from __future__ import annotations

from typing import Any, Callable

import torch


class LastPair:
    def __init__(self) -> None:
        self._last: tuple[torch.Tensor, torch.Tensor, Any] | None = None

    def get(self, ref: torch.Tensor, dist: torch.Tensor, compute: Callable[[], Any]) -> Any:
        last = self._last
        if last is not None and last[0].shape == ref.shape and last[1].shape == dist.shape \
                and torch.equal(last[0], ref) and torch.equal(last[1], dist):
            return last[2]
        value = compute()
        self._last = (ref.clone(), dist.clone(), value)
        return value


class LastReference:
    def __init__(self) -> None:
        self._last: tuple[torch.Tensor, Any] | None = None

    def get(self, ref: torch.Tensor, compute: Callable[[], Any]) -> Any:
        last = self._last
        if last is not None and last[0].shape == ref.shape and last[0].dtype == ref.dtype and torch.equal(last[0], ref):
            return last[1]
        self._last = None              # free the old features before computing new ones
        value = compute()
        self._last = (ref.clone(), value)
        return value
