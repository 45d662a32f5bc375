"""A hyperprior + 4-step quadtree context entropy model (CADC supplementary 7.1, after the
quadtree partition of Li et al. 2023, "Neural video compression with diverse contexts").

- z = h_a(y), z_hat = round(z): exact integers (CADC eq. 14; UGAQ's residual y - UP(z_hat)
  needs them), coded by CompressAI's factorized EntropyBottleneck with its medians rounded;
- y_hat = k * step with integer k (an absolute grid: CADC eq. 5 rounds y_bar / Delta, not
  y_bar - mean), coded in four steps. The latent's elements are split by quadtree_masks():
  channel group g (of 4) at 2x2 position p is coded in step (p + g) mod 4, so every step codes
  a quarter of the elements, one position per group, and every element exactly once. Step s
  predicts a Gaussian from the hyper features, the optional conditioning and the elements of
  steps < s (zeros elsewhere).

The Gaussian's mean falls anywhere inside a bin of the absolute grid, which CompressAI's coder
(zero-mean tables, mean subtracted before rounding) cannot code exactly; constriction's
QuantizedGaussian codes k under the exact fractional mean (entropy.dithered_encode).
Coding runs image by image on the CPU in float32, so the decoder rebuilds the encoder's
Gaussians exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import naf_stack
from .entropy import SYMBOL_LIMIT, HyperpriorCoder, dithered_decode, dithered_encode
from .quantizers import round_ste

STEPS = 4


def quadtree_masks(channels: int, height: int, width: int) -> torch.Tensor:
    """4 x C x H x W booleans: which elements each of the four coding steps codes."""
    if channels % STEPS:
        raise ValueError(f"{channels} latent channels do not split into {STEPS} quadtree groups")
    group = torch.arange(channels) // (channels // STEPS)
    pos = 2 * (torch.arange(height) % 2)[:, None] + (torch.arange(width) % 2)[None, :]
    step = (pos[None] + group[:, None, None]) % STEPS
    return torch.stack([step == s for s in range(STEPS)])


def _integer_bottleneck(channels: int):
    from compressai.entropy_models import EntropyBottleneck

    class IntegerBottleneck(EntropyBottleneck):
        """EntropyBottleneck whose test-time values are round(z), exact integers: symbols are
        taken around the rounded medians (the tables stay those of the learnt medians)."""
        def _get_medians(self):
            return torch.round(super()._get_medians())

    return IntegerBottleneck(channels)


class QuadtreeEntropyModel(HyperpriorCoder):
    multiple = 4      # z is at 1/4 of y's resolution

    def __init__(self, channels: int, hyper_channels: int, width: int = 128, blocks: int = 1,
                 cond_channels: int = 0):
        super().__init__()
        from compressai.entropy_models import GaussianConditional
        self.channels, self.cond_channels = channels, cond_channels
        self.h_a = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.GELU(),
                                 nn.Conv2d(width, width, 5, stride=2, padding=2), nn.GELU(),
                                 nn.Conv2d(width, hyper_channels, 5, stride=2, padding=2))
        self.h_s = nn.Sequential(nn.ConvTranspose2d(hyper_channels, width, 5, 2, 2, output_padding=1), nn.GELU(),
                                 nn.ConvTranspose2d(width, width, 5, 2, 2, output_padding=1),
                                 naf_stack(width, blocks))
        self.step_nets = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width + cond_channels + channels, width, 3, padding=1), naf_stack(width, blocks),
                          nn.Conv2d(width, 2 * channels, 1)) for _ in range(STEPS))
        self.z_model = _integer_bottleneck(hyper_channels)
        self.y_model = GaussianConditional(None)

    def _check(self, cond):
        if self.cond_channels and (cond is None or cond.shape[1] != self.cond_channels):
            raise ValueError(f"the entropy model takes {self.cond_channels} conditioning channels")

    def hyper(self, y):
        """(z_hat, its likelihoods): round(z) at test time, z + U(-1/2, 1/2) for the likelihood in
        training with straight-through rounding for what the decoder sees."""
        z = self.h_a(y)
        z_noisy, z_lik = self.z_model(z)
        return (round_ste(z) if self.training else z_noisy), z_lik

    def _gaussian(self, s: int, features, cond, context):
        extra = [cond] if self.cond_channels else []
        mean, scale = self.step_nets[s](torch.cat([features, *extra, context], 1)).chunk(2, 1)
        return mean, F.softplus(scale)

    def forward(self, y_bar, step, z_hat, cond=None):
        """(y_hat, likelihoods of y) for y_bar and the given z_hat. Training: y_bar + uniform
        noise of width step (CADC eq. 6) for the likelihood and the output; the context always
        sees rounded values, as at test time. Eval: y_hat = round(y_bar / step) * step."""
        self._check(cond)
        features = self.h_s(z_hat)
        masks = quadtree_masks(*y_bar.shape[1:]).to(y_bar.device)
        rounded = round_ste(y_bar / step) * step
        values = (y_bar / step + torch.rand_like(y_bar) - 0.5) if self.training else torch.round(y_bar / step)
        context = torch.zeros_like(y_bar)
        lik = torch.zeros_like(y_bar)
        for s in range(STEPS):
            mean, scale = self._gaussian(s, features, cond, context)
            lik_s = self.y_model.likelihood_lower_bound(self.y_model._likelihood(values, scale / step, mean / step))
            lik = torch.where(masks[s], lik_s, lik)
            context = torch.where(masks[s], rounded, context)
        out = values * step if self.training else rounded
        return out, lik

    def compress(self, y_bar, step, z_hat, cond=None) -> tuple[list[bytes], torch.Tensor]:
        """One image (batch 1), z_hat integer: its strings (z, then the four steps) and y_hat."""
        self._check(cond)
        z_string = self.z_model.compress(z_hat)
        symbols = torch.round(y_bar / step).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
        return [z_string[0], *self._code(symbols, step, z_hat, cond)], symbols * step

    def _code(self, symbols, step, z_hat, cond) -> list[bytes]:
        features = self.h_s(z_hat)
        masks = quadtree_masks(*symbols.shape[1:])
        context, strings = torch.zeros_like(symbols), []
        for s in range(STEPS):
            mean, scale = self._gaussian(s, features, cond, context)
            m = masks[s][None]
            step_m = step.expand_as(symbols)[m] if torch.is_tensor(step) else step
            strings.append(dithered_encode(symbols[m], mean[m] / step_m, scale[m] / step_m))
            context = torch.where(m, symbols * step, context)
        return strings

    def decompress(self, strings: list[bytes], latent_hw: tuple[int, int], step, cond=None):
        """(y_hat, z_hat) from the strings; latent_hw is y's size."""
        self._check(cond)
        zh, zw = latent_hw[0] // self.multiple, latent_hw[1] // self.multiple
        z_hat = self.z_model.decompress([strings[0]], (zh, zw))
        features = self.h_s(z_hat)
        masks = quadtree_masks(self.channels, *latent_hw)
        y_hat = torch.zeros(1, self.channels, *latent_hw)
        for s in range(STEPS):
            mean, scale = self._gaussian(s, features, cond, y_hat)
            m = masks[s][None]
            step_m = step.expand_as(y_hat)[m] if torch.is_tensor(step) else step
            y_hat[m] = dithered_decode(strings[1 + s], mean[m] / step_m, scale[m] / step_m) * step_m
        return y_hat, z_hat
