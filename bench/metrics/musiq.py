"""MUSIQ (Ke et al. 2021) with KonIQ-10k weights, through pyiqa's architecture."""

from __future__ import annotations

from ._no_reference import PyiqaNoReference
from .base import register_metric


@register_metric
class MUSIQ(PyiqaNoReference):
    name = "musiq"
    value_range = (0.0, 100.0)
    label = "MUSIQ (KonIQ-10k)"
    weights = ("musiq-koniq",)
    weights_name = "musiq-koniq"

    @classmethod
    def _build(cls, path):
        import torch
        from pyiqa.archs.arch_util import clean_state_dict
        from pyiqa.archs.musiq_arch import MUSIQ as Arch

        # pyiqa would torch.load with weights_only=False; only a prefix of this file's sha256
        # is known, so it is read as plain tensors and must fill every parameter (strict)
        net = Arch(pretrained=False, num_class=1)      # the KonIQ head has one output
        state = torch.load(path, map_location="cpu", weights_only=True)
        for wrapper in ("params", "state_dict"):
            if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
                state = state[wrapper]
        net.load_state_dict(clean_state_dict(state), strict=True)
        return net
