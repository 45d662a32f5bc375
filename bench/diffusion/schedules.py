"""Noise schedules and timestep grids of the Stable Diffusion family (diffusers' schedulers).

- sd_scheduler(): the 1000-step DDPM schedule SD 1.x/2.x train with (scaled_linear betas
  0.00085..0.012); alpha_sigma() reads alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t)
  at any tensor of timesteps (a per-pixel timestep map included);
- ddim_steps(t): a DDIM step count t on the 20-apart grid of that schedule (DDIM with 50
  steps, 'leading' spacing, offset 1): t = 4 -> DDPM steps 61, 41, 21, 1;
- resampled_steps(t, tau): the same start and end reached in tau evaluations, so regions
  of different t finish together (the region-adaptive codec's timestep resampling):
  t = 4, tau = 7 -> 61, 51, 41, 31, 21, 11, 1.
"""

from __future__ import annotations

from functools import lru_cache

import torch

SPACING, OFFSET = 20, 1


@lru_cache(maxsize=4)
def sd_scheduler(kind: str = "DDPMScheduler"):
    import diffusers
    return getattr(diffusers, kind)(num_train_timesteps=1000, beta_schedule="scaled_linear",
                                    beta_start=0.00085, beta_end=0.012, steps_offset=OFFSET)


def alpha_sigma(timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    abar = sd_scheduler().alphas_cumprod.to(device=timesteps.device)[timesteps.long()]
    return abar.sqrt(), (1 - abar).sqrt()


def ddim_steps(t: int, spacing: int = SPACING, offset: int = OFFSET) -> list[int]:
    return [offset + spacing * k for k in range(t - 1, -1, -1)]


def resampled_steps(t: int, tau: int, spacing: int = SPACING, offset: int = OFFSET) -> list[int]:
    if not 1 <= t <= tau:
        raise ValueError(f"a region's t={t} must be between 1 and the number of evaluations tau={tau}")
    start = offset + spacing * (t - 1)
    if tau == 1:
        return [start]
    return [round(offset + (start - offset) * (tau - 1 - k) / (tau - 1)) for k in range(tau)]


def ddpm_step(t):
    """The DDPM timestep a DDIM step count t starts at (t = 4 -> 61); numbers or tensors."""
    return OFFSET + SPACING * (t - 1)


def bin_width(timesteps: torch.Tensor) -> torch.Tensor:
    """The region-adaptive codec's eq. 6: Delta_t = sqrt(12 sigma_t^2), the width of a uniform
    distribution of variance sigma_t^2 (so universal quantization adds exactly the noise level
    of timestep t)."""
    return alpha_sigma(timesteps)[1] * 12 ** 0.5


def resampled_step_maps(t_map: torch.Tensor) -> list[torch.Tensor]:
    """Timestep resampling for a whole map (appendix B): tau = max(t) maps of DDPM steps; pixel
    p follows resampled_steps(t_p, tau), so every region starts at its own noise level and all
    reach the clean latent at evaluation tau."""
    tau = int(t_map.max())
    table = torch.zeros(tau + 1, tau, dtype=torch.long)
    for t in torch.unique(t_map).tolist():
        table[int(t)] = torch.tensor(resampled_steps(int(t), tau))
    steps = table.to(t_map.device)[t_map.long()]            # ... x tau
    return list(steps.movedim(-1, 0))
