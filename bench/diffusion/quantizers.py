"""Quantizers as pure functions of tensors (no state, no modules), shared by every codec.

`step` is a scalar or a tensor broadcastable to the latent: a rate knob (quantization
scaling), a per-pixel bin width (universal quantization to a timestep map), ...
"""

from __future__ import annotations

import torch


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Rounding with a straight-through gradient."""
    return x + (torch.round(x) - x).detach()


def scale_quantize(y: torch.Tensor, step, offset=0.0) -> torch.Tensor:
    """Quantization scaling (SDE paper eq. 5): round((y - offset) / step) * step + offset.
    |result - y| <= step / 2 elementwise."""
    return torch.round((y - offset) / step) * step + offset


def noise_quantize(y: torch.Tensor, step, generator: torch.Generator | None = None) -> torch.Tensor:
    """The training proxy of scale_quantize: y + U(-1/2, 1/2) * step."""
    u = torch.rand(y.shape, generator=generator, device=y.device, dtype=y.dtype) - 0.5
    return y + u * step


def dither(shape, seed: int, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """U(-1/2, 1/2) shared by encoder and decoder through a seed. Drawn on the CPU with its own
    generator, so every device and process gets the same numbers."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    return (torch.rand(tuple(shape), generator=g, dtype=torch.float64) - 0.5).to(device=device, dtype=dtype)


def universal_quantize(y: torch.Tensor, step, seed: int) -> torch.Tensor:
    """Universal (dithered) quantization: step * round((y - u) / step) + u with u = step * dither.
    The error y_hat - y is uniform on [-step/2, step/2] and independent of y."""
    u = dither(y.shape, seed, y.device, y.dtype) * step
    return torch.round((y - u) / step) * step + u
