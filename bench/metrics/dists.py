"""DISTS (Ding et al. 2020), full image and -- non-standard -- ROI-masked.

The network is DISTS-pytorch's: torchvision VGG16 stages with its L2pooling layers and
its alpha/beta. It is assembled here because DISTS_pytorch.DISTS() downloads VGG16 from
torch hub and reads alpha/beta from sys.prefix; here both come from verified weights.
The score is the library's formula; for a mask, the per-channel means, variances and
covariance become mask-weighted ones (no standard masked DISTS exists).
"""

from __future__ import annotations

import torch

from .. import weights as W
from ._masks import cell_weights, check_mask
from ._pair_cache import LastPair, LastReference
from ._weighted import WeightedNetwork
from .base import Metric, register_metric

CHANNELS = (3, 64, 128, 256, 512, 512)
# VGG16 `features` slices of the five stages; an L2pooling replaces each max-pool (4, 9, 16, 23)
STAGES = ((0, 4, None), (5, 9, 64), (10, 16, 128), (17, 23, 256), (24, 30, 512))
C1 = C2 = 1e-6


class DISTSNet(torch.nn.Module):
    def __init__(self, vgg_sd: dict, alpha_beta: dict):
        super().__init__()
        import torchvision
        from DISTS_pytorch.DISTS_pt import L2pooling

        features = torchvision.models.vgg16(weights=None).features
        features.load_state_dict({k.removeprefix("features."): v for k, v in vgg_sd.items()}, strict=True)
        self.stages = torch.nn.ModuleList()
        for start, stop, pool_channels in STAGES:
            layers = [L2pooling(channels=pool_channels)] if pool_channels else []
            self.stages.append(torch.nn.Sequential(*layers, *features[start:stop]))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
        self.register_buffer("alpha", alpha_beta["alpha"].detach().clone())
        self.register_buffer("beta", alpha_beta["beta"].detach().clone())
        self.requires_grad_(False).eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [x], (x - self.mean) / self.std
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def forward(self, ref, dist, mask=None):
        return self.score(self.features(ref), self.features(dist), mask)

    def score(self, f0: list[torch.Tensor], f1: list[torch.Tensor], mask=None) -> torch.Tensor:
        w_sum = self.alpha.sum() + self.beta.sum()
        alpha = torch.split(self.alpha / w_sum, CHANNELS, dim=1)
        beta = torch.split(self.beta / w_sum, CHANNELS, dim=1)
        dist1 = dist2 = 0
        for k, (x, y) in enumerate(zip(f0, f1)):
            if mask is None:
                def avg(t):
                    return t.mean([2, 3], keepdim=True)
            else:
                w = cell_weights(mask, x.shape[-2:])
                w = w / w.sum((2, 3), keepdim=True)
                x, y = x.double(), y.double()

                def avg(t, w=w):
                    return (t * w).sum([2, 3], keepdim=True)
            x_mean, y_mean = avg(x), avg(y)
            s1 = (2 * x_mean * y_mean + C1) / (x_mean ** 2 + y_mean ** 2 + C1)
            dist1 = dist1 + (alpha[k] * s1).sum(1, keepdim=True)
            x_var, y_var = avg((x - x_mean) ** 2), avg((y - y_mean) ** 2)
            xy_cov = avg(x * y) - x_mean * y_mean
            s2 = (2 * xy_cov + C2) / (x_var + y_var + C2)
            dist2 = dist2 + (beta[k] * s2).sum(1, keepdim=True)
        return (1 - (dist1 + dist2)).reshape(-1).float()


@register_metric
class DISTS(WeightedNetwork, Metric):
    libraries = ("DISTS-pytorch", "torch", "torchvision")
    packages = (("DISTS_pytorch", "DISTS-pytorch"),)
    name = "dists"
    kind = "full-reference"
    higher_is_better = False
    supports_mask = True
    value_range = (0.0, 1.0)
    label = "DISTS"
    weights = ("vgg16", "dists")
    mask_note = ("NON-STANDARD masked variant: DISTS statistics (means, variances, covariance) "
                 "weighted by the mask; not comparable with published DISTS values")

    def __init__(self, device: str = "cpu"):
        super().__init__(device)
        self.net = DISTSNet(W.load_state_dict(W.resolve("vgg16")),
                            W.load_state_dict(W.resolve("dists"))).to(device)
        self._features = LastPair()
        self._ref = LastReference()

    def __call__(self, ref, dist, mask=None):
        if mask is not None:
            check_mask(mask, ref)
        with torch.no_grad():
            f0, f1 = self._features.get(ref, dist, lambda: (self._ref.get(ref, lambda: self.net.features(ref.float())),
                                                            self.net.features(dist.float())))
            return self.net.score(f0, f1, mask)

