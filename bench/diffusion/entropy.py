"""The latent entropy model shared by the diffusion codecs: a hyperprior (Balle et al. 2018)
with a mean-scale Gaussian and a channel-slice context (Minnen & Singh 2020), built from
CompressAI's EntropyBottleneck and GaussianConditional (its rANS coder does the coding).

Two additions the papers need:
- `step`: the quantization bin width, a number or a tensor broadcastable to the latent.
  Symbols are round((y - mean) / step) and y_hat = symbols * step + mean, so one model
  serves every rate of quantization scaling (SDE paper eq. 5) or a per-pixel bin width
  (the region-adaptive codec's timestep map). The Gaussian is coded in units of the step:
  mean / step, scale / step.
- `cond`: extra channels at the latent's resolution fed to every slice's parameter network
  (the rate knob as a map, a timestep map, ...); `cond_channels = 0` for none.
- `offset`: a quantization grid anchored at a shared dither u instead of at the predicted
  mean (universal quantization, the region-adaptive codec's eq. 6): symbols are
  k = round((y - u) / step), y_hat = k step + u, so (y_hat - u) / step is an integer. The
  Gaussian's mean then falls anywhere inside a bin, which CompressAI's coder (zero-mean
  tables, mean subtracted before rounding) cannot express; constriction's QuantizedGaussian
  codes k under the exact fractional mean (mean - u) / step.

Entropy coding runs image by image (batch 1): a convolution's floating-point result can
depend on the batch it runs in, and the decoder must rebuild the encoder's Gaussians exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import naf_stack
from .quantizers import round_ste

SYMBOL_LIMIT = 2 ** 15      # |k| of the dithered grid; far beyond any latent / bin width in use
SCALE_BOUND = 0.11          # the Gaussian's smallest scale in bins (CompressAI's lower bound)


def _gaussian_model():
    import constriction
    return constriction.stream.model.QuantizedGaussian(-SYMBOL_LIMIT, SYMBOL_LIMIT)


def dithered_encode(symbols: torch.Tensor, means: torch.Tensor, scales: torch.Tensor) -> bytes:
    """Integer symbols under per-symbol Gaussians N(mean, scale) (in bins), rANS-coded by
    constriction: exact for any fractional mean, deterministic for the same float inputs."""
    import constriction
    import numpy as np
    coder = constriction.stream.stack.AnsCoder()
    scales = scales.expand_as(symbols)
    coder.encode_reverse(symbols.flatten().numpy().astype(np.int32), _gaussian_model(),
                         means.expand_as(symbols).flatten().double().numpy(),
                         scales.clamp_min(SCALE_BOUND).flatten().double().numpy())
    return coder.get_compressed().astype("<u4").tobytes()


def dithered_decode(data: bytes, means: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    import constriction
    import numpy as np
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    symbols = coder.decode(_gaussian_model(), means.flatten().double().numpy(),
                           scales.clamp_min(SCALE_BOUND).expand_as(means).flatten().double().numpy())
    return torch.from_numpy(symbols.astype(np.float32)).reshape(means.shape)


class HyperpriorCoder(nn.Module):
    """What the entropy models share: a factorized z_model and a GaussianConditional y_model."""
    z_model: nn.Module
    y_model: nn.Module

    def update(self) -> None:
        """Build the coder's CDF tables (after training or loading)."""
        from compressai.models.google import get_scale_table
        self.y_model.update_scale_table(get_scale_table(), force=True)
        self.z_model.update(force=True)

    # the coder's tables are derived from the parameters (update()); checkpoints leave them out
    DERIVED = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")

    def aux_loss(self):
        return self.z_model.loss()


class SliceEntropyModel(HyperpriorCoder):
    def __init__(self, channels: int, hyper_channels: int = 64, slices: int = 1, width: int = 128,
                 blocks: int = 1, cond_channels: int = 0):
        super().__init__()
        from compressai.entropy_models import EntropyBottleneck, GaussianConditional
        if channels % slices:
            raise ValueError(f"{channels} latent channels do not split into {slices} equal slices")
        self.channels, self.slices, self.cond_channels = channels, slices, cond_channels
        per = channels // slices
        self.h_a = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), naf_stack(width, blocks),
                                 nn.Conv2d(width, width, 5, stride=2, padding=2), nn.GELU(),
                                 nn.Conv2d(width, hyper_channels, 5, stride=2, padding=2))
        self.h_s = nn.Sequential(nn.ConvTranspose2d(hyper_channels, width, 5, 2, 2, output_padding=1), nn.GELU(),
                                 nn.ConvTranspose2d(width, width, 5, 2, 2, output_padding=1),
                                 naf_stack(width, blocks))
        self.slice_nets = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width + cond_channels + k * per, width, 1), naf_stack(width, blocks),
                          nn.Conv2d(width, 2 * per, 1)) for k in range(slices))
        self.z_model = EntropyBottleneck(hyper_channels)
        self.y_model = GaussianConditional(None)

    multiple = 4     # the hyper latent is at 1/4 of the latent's resolution

    def _gaussian(self, k: int, hyper, cond, decoded: list):
        feats = [hyper] + ([cond] if self.cond_channels else []) + decoded
        mean, scale = self.slice_nets[k](torch.cat(feats, 1)).chunk(2, 1)
        return mean, F.softplus(scale)

    def _check(self, cond):
        if self.cond_channels and (cond is None or cond.shape[1] != self.cond_channels):
            raise ValueError(f"the entropy model takes {self.cond_channels} conditioning channels")

    def forward(self, y, step, cond=None, offset=None):
        """(y_hat with straight-through rounding, {"y": likelihoods, "z": likelihoods}). In training
        mode the likelihoods use the additive-noise proxy, in eval mode the rounded values; the
        context always sees rounded values, as at test time."""
        self._check(cond)
        z_hat, z_lik = self.z_model(self.h_a(y))
        hyper = self.h_s(z_hat)
        decoded, liks = [], []
        offsets = offset.chunk(self.slices, 1) if offset is not None else [None] * self.slices
        for k, (y_k, o_k) in enumerate(zip(y.chunk(self.slices, 1), offsets)):
            mean, scale = self._gaussian(k, hyper, cond, decoded)
            if o_k is None:
                _, lik = self.y_model(y_k / step, scale / step, means=mean / step)
                decoded.append(round_ste((y_k - mean) / step) * step + mean)
            else:
                values = (self.y_model.quantize(y_k / step, "noise") if self.training
                          else torch.round((y_k - o_k) / step) + o_k / step)
                lik = self.y_model.likelihood_lower_bound(self.y_model._likelihood(values, scale / step, mean / step))
                decoded.append(round_ste((y_k - o_k) / step) * step + o_k)
            liks.append(lik)
        return torch.cat(decoded, 1), {"y": torch.cat(liks, 1), "z": z_lik}

    def quantize(self, y, step, cond=None):
        """Test-time quantization without coding (what compress() transmits): y_hat."""
        self._check(cond)
        hyper = self.h_s(self.z_model.quantize(self.h_a(y), "dequantize", self.z_model._get_medians()))
        decoded = []
        for k, y_k in enumerate(y.chunk(self.slices, 1)):
            mean, _ = self._gaussian(k, hyper, cond, decoded)
            decoded.append(self.y_model.quantize(y_k / step, "dequantize", mean / step) * step)
        return torch.cat(decoded, 1)

    def compress(self, y, step, cond=None, offset=None) -> tuple[list[bytes], torch.Tensor]:
        """One image (batch 1): its strings (hyper latent first, then one per slice) and the
        y_hat the decoder will rebuild from them."""
        self._check(cond)
        z = self.h_a(y)
        z_string = self.z_model.compress(z)
        hyper = self.h_s(self.z_model.decompress(z_string, z.shape[-2:]))
        strings, decoded = [z_string[0]], []
        offsets = offset.chunk(self.slices, 1) if offset is not None else [None] * self.slices
        for k, (y_k, o_k) in enumerate(zip(y.chunk(self.slices, 1), offsets)):
            mean, scale = self._gaussian(k, hyper, cond, decoded)
            if o_k is None:
                indexes = self.y_model.build_indexes(scale / step)
                strings.append(self.y_model.compress(y_k / step, indexes, means=mean / step)[0])
                # the decoder's arithmetic exactly: integer symbols + mean/step, times step
                decoded.append(self.y_model.quantize(y_k / step, "dequantize", mean / step) * step)
            else:
                symbols = torch.round((y_k - o_k) / step).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
                strings.append(dithered_encode(symbols, (mean - o_k) / step, scale / step))
                decoded.append(symbols * step + o_k)
        return strings, torch.cat(decoded, 1)

    def decompress(self, strings: list[bytes], latent_hw: tuple[int, int], step, cond=None,
                   offset=None) -> torch.Tensor:
        self._check(cond)
        zh, zw = latent_hw[0] // self.multiple, latent_hw[1] // self.multiple
        hyper = self.h_s(self.z_model.decompress([strings[0]], (zh, zw)))
        decoded = []
        offsets = offset.chunk(self.slices, 1) if offset is not None else [None] * self.slices
        for k, o_k in enumerate(offsets):
            mean, scale = self._gaussian(k, hyper, cond, decoded)
            if o_k is None:
                indexes = self.y_model.build_indexes(scale / step)
                decoded.append(self.y_model.decompress([strings[1 + k]], indexes, means=mean / step) * step)
            else:
                decoded.append(dithered_decode(strings[1 + k], (mean - o_k) / step, scale / step) * step + o_k)
        return torch.cat(decoded, 1)

