"""Network features of the last (reference, distorted) batch, reused across regions.

The metric stage asks a mask-capable metric for the full, ROI and background values of the
same batch in a row; only the pooling differs, so the network runs once, not three times.
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
