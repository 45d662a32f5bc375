"""LPIPS v0.1 (AlexNet, the field's default; and VGG16), full image and ROI-masked.

The network is the `lpips` library's own module; its trunk is filled from verified
torchvision weights (bench weights: the library would download them from torch hub) and its
linear layers from the verified v0.1 file. The distance is computed from the library's
layers so that the per-layer maps are available for masked averaging (see _masks.py).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from .. import weights as W
from ._masks import cell_weights, check_mask, weighted_mean
from ._pair_cache import LastPair
from ._weighted import WeightedNetwork
from .base import Metric, register_metric


def _lpips_module(trunk: str, trunk_weights: str, lin_weights: str) -> torch.nn.Module:
    """lpips.LPIPS with every parameter taken from verified weights (strict load)."""
    import warnings

    import lpips

    with warnings.catch_warnings():      # lpips passes torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=False, net=trunk, version="0.1", pnet_rand=True, verbose=False)
    trunk_sd = W.load_state_dict(W.resolve(trunk_weights))
    lin_sd = W.load_state_dict(W.resolve(lin_weights))
    state = {}
    for key, own in model.state_dict().items():
        if key.startswith("net."):          # net.slice<k>.<torchvision index>.<param>
            _, _, idx, param = key.split(".")
            state[key] = trunk_sd[f"features.{idx}.{param}"]
        elif key.startswith("lins."):       # lpips registers lin<k> also as lins.<k>
            _, k, rest = key.split(".", 2)
            state[key] = lin_sd[f"lin{k}.{rest}"]
        elif key.startswith("lin"):
            state[key] = lin_sd[key]
        else:                               # the scaling layer's fixed constants
            state[key] = own
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)


class _LPIPSBase(WeightedNetwork, Metric):
    libraries = ("lpips", "torch", "torchvision")
    packages = (("lpips", "lpips"),)
    trunk: ClassVar[str]
    kind = "full-reference"
    higher_is_better = False
    supports_mask = True
    value_range = (0.0, float("inf"))
    mask_note = ("masked: the LPIPS distance map averaged with the mask as weights (each layer's map "
                 "spread over the pixels it covers; ROI and background average back to the full value)")

    def __init__(self, device: str = "cpu"):
        super().__init__(device)
        self.model = _lpips_module(self.trunk, *self.weights).to(device)
        self._maps = LastPair()

    def layer_maps(self, ref: torch.Tensor, dist: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer distance maps (Bx1xhxw)."""
        return self._maps.get(ref, dist, lambda: self._layer_maps(ref, dist))

    def _layer_maps(self, ref: torch.Tensor, dist: torch.Tensor) -> list[torch.Tensor]:
        import lpips
        m = self.model
        with torch.no_grad():
            f0 = m.net(m.scaling_layer(ref.float() * 2 - 1))
            f1 = m.net(m.scaling_layer(dist.float() * 2 - 1))
            return [m.lins[k]((lpips.normalize_tensor(f0[k]) - lpips.normalize_tensor(f1[k])) ** 2)
                    for k in range(m.L)]

    def __call__(self, ref, dist, mask=None):
        maps = self.layer_maps(ref, dist)
        if mask is None:
            return sum(d.mean((2, 3)) for d in maps).reshape(-1)
        check_mask(mask, ref)
        total = sum(weighted_mean(d, cell_weights(mask, d.shape[-2:])) for d in maps)
        return total.reshape(-1).float()



@register_metric
class LPIPSAlex(_LPIPSBase):
    name = "lpips"
    trunk = "alex"
    label = "LPIPS (AlexNet, v0.1)"
    weights = ("alexnet", "lpips-alex-v0.1")


@register_metric
class LPIPSVGG(_LPIPSBase):
    name = "lpips-vgg"
    trunk = "vgg"
    label = "LPIPS (VGG16, v0.1)"
    weights = ("vgg16", "lpips-vgg-v0.1")
