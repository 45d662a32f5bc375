"""Reverse processes of the diffusion codecs.

rate_variable_sde: the SDE paper's Algorithm 1 (sections 3.2-3.3, appendix B). The data
is the quantized latent y_q at the rate knob q0; each step evaluates the network once,
    d_i     = (D(y_i, q_i) - y_i) / q_i                     (the score, eq. 2 with q for sigma)
    y_{i+1} = y_i + (q_i - q_{i+1}) d_i                     (Euler, eq. 11)
            = lerp(D(y_i, q_i), y_i, q_{i+1} / q_i)         (the same, exact when q_{i+1} = 0)
    y_{i+1} += alpha_i (eps_i - d_i),  alpha_i = beta sqrt(q_i - q_min)     (eq. 13, Alg. 1 line 10)
Algorithm 1's line 10 is printed as "y_{i+1} <- alpha(eps_i - d_i)"; we read it as an
increment of the Euler result (the Langevin terms of eq. 12), which is what beta = 0 (the
paper's deterministic sampling) reduces to eq. 11 with.

spatial_ddim / repaint_regions: the region-adaptive codec's samplers (deterministic DDIM with
v-prediction along per-pixel step maps; the RePaint multi-region ablation).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

NOISE_FORMS = ("gaussian", "uniform")


def two_step_schedule(q0: float, q1: float = 0.13, steps: int = 2) -> list[float]:
    """q0 > ... > 0 with `steps` network evaluations. The paper's default is q0 -> 0.13 -> 0 at
    every rate; more steps put geometric points between q0 and q1; a knob at or below q1 uses
    q0/2 as its intermediate point (still `steps` evaluations); 0 steps decodes y_q itself."""
    if steps < 0:
        raise ValueError("the sampler's steps must be 0 or more")
    if steps == 0:              # no reverse process: the quantized latent as it is (an ablation)
        return [q0]
    if steps == 1:
        return [q0, 0.0]
    lo = q1 if q0 > q1 else q0 / 2
    inner = [q0 * (lo / q0) ** (k / (steps - 1)) for k in range(1, steps)]
    return [q0, *inner, 0.0]


def noise_like(x: torch.Tensor, form: str, generator: torch.Generator) -> torch.Tensor:
    """Unit-variance noise drawn on the CPU generator (same numbers on every device):
    N(0, 1), or U(-1/2, 1/2) / sigma_U = U(-sqrt 3, sqrt 3)."""
    if form == "gaussian":
        eps = torch.randn(x.shape, generator=generator, dtype=torch.float32)
    elif form == "uniform":
        eps = (torch.rand(x.shape, generator=generator, dtype=torch.float32) - 0.5) * math.sqrt(12.0)
    else:
        raise ValueError(f"noise form {form!r}: use one of {', '.join(NOISE_FORMS)}")
    return eps.to(device=x.device, dtype=x.dtype)


def alpha(q: float, beta: float, q_min: float) -> float:
    """Eq. 13: the amount of stochastic injection at knob q (0 at and below q_min)."""
    return beta * math.sqrt(max(q - q_min, 0.0))


def rate_variable_sde(denoise: Callable, y_q: torch.Tensor, schedule: list[float], beta: float = 0.075,
                      q_min: float = 0.0, noise: str = "gaussian", seeds: list[int] | None = None) -> torch.Tensor:
    """Run the reverse process from y_q (B images) along `schedule`; `denoise(x, q)` is D_theta.
    Each image's noise comes from its own seed, so a batch decodes as its images one by one."""
    gens = [torch.Generator().manual_seed(int(s)) for s in (seeds or [0] * y_q.shape[0])]
    x = y_q
    for q_i, q_next in zip(schedule[:-1], schedule[1:]):
        x0 = denoise(x, q_i)
        a = alpha(q_i, beta, q_min)
        nxt = torch.lerp(x0, x, q_next / q_i)
        if a > 0:
            d = (x0 - x) / q_i
            eps = torch.cat([noise_like(x[j:j + 1], noise, g) for j, g in enumerate(gens)])
            nxt = nxt + a * (eps - d)
        x = nxt
    return x


# --- the region-adaptive codec's reverse processes (v-prediction on SD's DDPM schedule) -----
def ddim_v_step(x, v, s_now, s_next):
    """One deterministic DDIM step (eta = 0) from DDPM step map s_now to s_next with a
    v-prediction: y0 = a x - s v, eps = s x + a v, x' = a' y0 + s' eps. s_next None lands
    on y0 (diffusers' DDIM with set_alpha_to_one). Per pixel: the maps broadcast over channels."""
    from .schedules import alpha_sigma
    a, sg = alpha_sigma(s_now)
    y0 = a * x - sg * v
    if s_next is None:
        return y0
    a2, s2 = alpha_sigma(s_next)
    return a2 * y0 + s2 * (sg * x + a * v)


def spatial_ddim(predict_v: Callable, y_t: torch.Tensor, step_maps: list[torch.Tensor]) -> torch.Tensor:
    """Denoise along per-pixel DDPM step maps (one network evaluation each): with
    resampled_step_maps(t) this is the region-adaptive codec's sampler; with constant maps it
    is scalar DDIM."""
    x = y_t
    for k, s in enumerate(step_maps):
        x = ddim_v_step(x, predict_v(x, s), s, step_maps[k + 1] if k + 1 < len(step_maps) else None)
    return x


def renoise(x: torch.Tensor, s_from: torch.Tensor, s_to: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """A sample of q(y_to | y_from) for DDPM steps s_to >= s_from (per pixel):
    (a_to / a_from) x + sqrt(s_to^2 - (a_to / a_from)^2 s_from^2) eps; x itself where equal."""
    from .schedules import alpha_sigma
    a0, s0 = alpha_sigma(s_from)
    a1, s1 = alpha_sigma(s_to)
    ratio = a1 / a0
    return ratio * x + (s1 ** 2 - (ratio * s0) ** 2).clamp_min(0).sqrt() * eps


def repaint_regions(predict_v: Callable, y_t: torch.Tensor, t_map: torch.Tensor, seed: int = 0,
                    noise: str = "uniform") -> torch.Tensor:
    """The region-adaptive paper's RePaint ablation (appendix A.3, n = j = 1) for one image:
    a spatially uniform model denoises the whole latent at one DDIM level t = max(t), ..., 1;
    after each step the regions whose own level is at or below the new one are replaced by
    their transmitted values, forward-noised to that level (q(y_t | y_{t_p})). tau = max(t)
    evaluations, as in the spatially varying sampler."""
    from .schedules import ddpm_step
    gen = torch.Generator().manual_seed(int(seed))
    own = ddpm_step(t_map.long())
    tau = int(t_map.max())

    def level(t):
        return torch.full_like(own, ddpm_step(t))
    x = renoise(y_t, own, level(tau), noise_like(y_t, noise, gen))
    for t in range(tau, 0, -1):
        s, s_next = level(t), (level(t - 1) if t > 1 else None)
        x = ddim_v_step(x, predict_v(x, s), s, s_next)
        if s_next is not None:
            known = (t_map <= t - 1).expand_as(x)
            x = torch.where(known, renoise(y_t, own, s_next, noise_like(y_t, noise, gen)), x)
    return x
