"""Denoising networks: diffusers U-Nets built from a config table, and EDM preconditioning.

    [denoiser]
    class = "UNet2DModel"              # or UNet2DConditionModel; the rest goes to its constructor
    block_out_channels = [32, 64]
    ...

EDM preconditioning (Karras et al. 2022, "Elucidating the design space ...", table 1):
D(x; sigma) = c_skip x + c_out F(c_in x; c_noise) with
c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4, sd = sigma_data.
The network F sees c_noise * noise_scale as its timestep: diffusers' sinusoidal embedding is
built for timesteps in the hundreds, EDM's ln(sigma)/4 lies in about [-3, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn


def build_unet(table: dict):
    import diffusers
    settings = dict(table)
    cls = settings.pop("class", "UNet2DModel")
    return getattr(diffusers, cls)(**settings)


def edm_coefficients(sigma: torch.Tensor, sigma_data: float):
    s2, d2 = sigma ** 2, sigma_data ** 2
    return d2 / (s2 + d2), sigma * sigma_data / (s2 + d2).sqrt(), 1 / (s2 + d2).sqrt(), sigma.log() / 4


class EDMDenoiser(nn.Module):
    """x_hat_0 = D(x; sigma), sigma per image (B) or per pixel (Bx1xHxW, broadcast over channels)."""

    def __init__(self, net: nn.Module, sigma_data: float = 0.5, noise_scale: float = 250.0):
        super().__init__()
        self.net, self.sigma_data, self.noise_scale = net, float(sigma_data), float(noise_scale)

    def forward(self, x, sigma, cond=None, **extra):
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        if sigma.dim() == 0:
            sigma = sigma.expand(x.shape[0])
        s = sigma.reshape(x.shape[0], *([1] * (x.dim() - 1))) if sigma.dim() == 1 else sigma
        c_skip, c_out, c_in, c_noise = edm_coefficients(s, self.sigma_data)
        inp = c_in * x if cond is None else torch.cat([c_in * x, cond], 1)
        t = (sigma.log() / 4) * self.noise_scale if sigma.dim() == 1 else c_noise * self.noise_scale
        f = self.net(inp, t, **extra).sample
        return c_skip * x + c_out * f[:, : x.shape[1]]


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def uniform_sigma(q) -> float | torch.Tensor:
    """The standard deviation of U(-q/2, q/2): the noise level quantization with step q adds."""
    return q / math.sqrt(12.0)


def pretrained_unet(table: dict, autoencoder: dict):
    """[denoiser] pretrained = "unet": the U-Net of the diffusers pipeline folder the
    [autoencoder] table points at (e.g. Stable Diffusion 2.1: unet/config.json and
    unet/diffusion_pytorch_model.safetensors), loaded unchanged; never downloaded."""
    import diffusers

    from ..errors import BenchError
    from .autoencoders import pipeline_roots
    sub = table["pretrained"]
    cls = getattr(diffusers, table.get("class", "UNet2DConditionModel"))
    need = [f"{sub}/config.json", f"{sub}/diffusion_pytorch_model.safetensors"]
    tried = []
    for label, root in pipeline_roots(autoencoder):
        tried.append(label)
        if all((root / f).is_file() for f in need):
            return cls.from_pretrained(str(root), subfolder=sub, local_files_only=True).float()
    raise BenchError(f"pretrained U-Net not found: looked in {'; '.join(tried)} for {' and '.join(need)}; give the "
                     "diffusers pipeline folder (e.g. Stable Diffusion 2.1) as autoencoder_path=DIR or the "
                     "config's autoencoder path")
