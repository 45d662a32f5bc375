"""The region-adaptive diffusion codec's networks ("Region-adaptive generative compression with
spatially varying diffusion models", sections 4-5, appendices A-B), also the UDDQ baselines'.

- the frozen latent autoencoder (TAESD or SD 2.1's VAE);
- the timestep-conditioned entropy model (fig. 4): hyperprior + channel slices, with the
  latent's bin-width map log Delta_t as extra context (`entropy.t_conditioning = false`:
  the paper's ablation, and UDDQ's model); the latent is coded on a dithered grid (eq. 6);
- the denoiser: a diffusers U-Net predicting v, given a timestep per latent pixel
  (bench.diffusion.spatial_unet: the linear time-embedding layers applied per pixel and
  pooled to each block, so SD 2.1's U-Net loads unchanged).

Timestep maps hold DDIM step counts t (t = 4: DDPM steps 61, 41, 21, 1); the latent of a pixel
at t is alpha_t y0 quantized with bin width Delta_t = sqrt(12) sigma_t (eq. 6).

Training (bench train), the paper's two stages:
- `denoiser`: L_simple with v-prediction, y_t = alpha_t y0 + sigma_t u, u ~ U(-sqrt 3, sqrt 3)
  (eq. 5), at per-pixel DDPM timesteps from random training maps (`maps.spatial`; UDDQ:
  constant maps only);
- `entropy`: the rate-only loss -log2 p(y_t) - log2 p(z) on random DDIM maps, the denoiser
  frozen (it does not touch the entropy model).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bench.diffusion.denoisers import build_unet, pretrained_unet
from bench.diffusion.entropy import SliceEntropyModel
from bench.diffusion.model import LatentCodecModel
from bench.diffusion.quantizers import dither
from bench.diffusion.samplers import repaint_regions, spatial_ddim
from bench.diffusion.schedules import (
    alpha_sigma,
    bin_width,
    ddim_steps,
    ddpm_step,
    resampled_step_maps,
)
from bench.diffusion.spatial_unet import SpatialTimestepUNet
from bench.diffusion.timestep_maps import decode_map, encode_map, random_map

T_MAX = 50                      # DDIM step counts on the 20-apart grid: t = 50 starts at DDPM step 981
SAMPLERS = ("resample", "repaint", "ddim-roi", "ddim-bg")


def latent_offset(shape, step: torch.Tensor, seed: int) -> torch.Tensor:
    """The shared dither u ~ U(-Delta/2, Delta/2) of eq. 6 (a seed in the bitstream)."""
    return dither(shape, seed) * step


class RegionDiffusionModel(LatentCodecModel):
    log_terms = ("bpp", "t_mean", "aux", "constant")

    def __init__(self, config: dict, autoencoder):
        super().__init__()
        ent, den, self.maps = config["entropy"], config["denoiser"], config.get("maps", {})
        c = autoencoder.channels
        self.autoencoder = autoencoder          # frozen and not a submodule: not in checkpoints
        self.t_conditioning = bool(ent.get("t_conditioning", True))
        self.entropy = SliceEntropyModel(c, ent["hyper_channels"], ent["slices"], ent["width"], ent["blocks"],
                                         cond_channels=int(self.t_conditioning))
        if den.get("pretrained"):
            unet = pretrained_unet(den, config["autoencoder"])
        else:
            unet = build_unet({k: v for k, v in den.items() if k != "context_tokens"}
                              | {"in_channels": c, "out_channels": c})
        self.denoiser = SpatialTimestepUNet(unet)
        self.context_tokens = int(den.get("context_tokens", 77))
        self.sampler = dict(config.get("sampler", {}))
        self.device = "cpu"

    # --- shared pieces -----------------------------------------------------------------------
    def cond(self, step: torch.Tensor):
        """The entropy model's timestep context: log Delta_t per latent pixel (None in the ablation)."""
        return step.log() if self.t_conditioning else None

    def predict_v(self, x, timesteps):
        """v_hat at DDPM timesteps (a number per image or a map Bx1xHxW). A text-conditioned
        U-Net (SD 2.1) gets an all-zero context: the codec has no prompt (unstated in the paper)."""
        extra = {}
        unet = self.denoiser.unet
        if hasattr(unet.config, "cross_attention_dim") and unet.config.cross_attention_dim:
            extra["encoder_hidden_states"] = x.new_zeros(x.shape[0], self.context_tokens,
                                                         unet.config.cross_attention_dim)
        t = timesteps if torch.is_tensor(timesteps) else torch.tensor(float(timesteps))
        if t.dim() == 4 and bool((t == t.flatten()[0]).all()):
            t = t.flatten()[0].expand(x.shape[0])            # a constant map: the stock U-Net path
        return self.denoiser(x, t.to(x.device), **extra).sample

    def _random_maps(self, b: int, h: int, w: int, low: int, high: int) -> tuple[torch.Tensor, float]:
        """b training maps Bx1xHxW (the paper's shapes on a constant canvas, constant with
        probability p_constant; UDDQ: always constant), drawn from the step's torch seed."""
        rng = np.random.default_rng(int(torch.randint(2 ** 31 - 1, ())))
        p = float(self.maps.get("p_constant", 0.15)) if self.maps.get("spatial", True) else 1.0
        maps = np.stack([random_map(h, w, rng, low, high, p) for _ in range(b)])
        constant = float(np.mean([m.min() == m.max() for m in maps]))
        return torch.from_numpy(maps)[:, None], constant

    # --- training (bench train) -------------------------------------------------------------
    def loss(self, stage: dict, x):
        with torch.no_grad():
            y0 = self.autoencoder.encode(x)
        if stage["trains"] == "entropy":
            return self._entropy_loss(y0)
        return self._denoiser_loss(y0)

    def _denoiser_loss(self, y0):
        b, _, h, w = y0.shape
        steps, constant = self._random_maps(b, h, w, 1, int(ddpm_step(int(self.maps.get("t_max", T_MAX)))))
        steps = steps.to(y0.device)
        a, s = alpha_sigma(steps)
        u = (torch.rand_like(y0) - 0.5) * math.sqrt(12.0)
        v_hat = self.predict_v(a * y0 + s * u, steps.float())
        loss = (v_hat - (a * u - s * y0)).pow(2).mean()
        return loss, {"t_mean": float(steps.float().mean()), "constant": constant}

    def _entropy_loss(self, y0):
        b, _, h, w = y0.shape
        t, constant = self._random_maps(b, h, w, 1, int(self.maps.get("t_max", T_MAX)))
        steps = ddpm_step(t.to(y0.device))
        a, step = alpha_sigma(steps)[0], bin_width(steps)
        offset = (torch.rand_like(y0) - 0.5) * step
        _, lik = self.entropy(a * y0, step, self.cond(step), offset)
        pixels = b * h * w * self.autoencoder.factor ** 2
        bits = -(lik["y"].clamp_min(1e-9).log2().sum() + lik["z"].clamp_min(1e-9).log2().sum())
        bpp = bits / pixels
        aux = self.entropy.aux_loss()
        return bpp + aux, {"bpp": float(bpp.detach()), "aux": float(aux.detach()), "t_mean": float(t.float().mean()),
                           "constant": constant}

    # --- coding ------------------------------------------------------------------------------
    def _quantizer(self, t_map: np.ndarray, channels: int, seed: int):
        t = torch.from_numpy(np.asarray(t_map, dtype=np.int64))[None, None]
        steps = ddpm_step(t)
        step = bin_width(steps)
        return t, alpha_sigma(steps)[0], step, latent_offset((1, channels, *t.shape[-2:]), step, seed)

    def compress(self, x, t_maps: list[np.ndarray], seed: int) -> list[list[bytes]]:
        """Per image: [timestep map stream, hyper latent, slices...]."""
        y0 = self.autoencoder.encode(x).float().cpu()
        out = []
        for i, t_map in enumerate(t_maps):
            _, a, step, u = self._quantizer(t_map, y0.shape[1], seed)
            strings, _ = self.entropy.compress(a * y0[i:i + 1], step, self.cond(step), u)
            out.append([encode_map(t_map), *strings])
        return out

    def quantized_latent(self, x, t_map: np.ndarray, seed: int) -> torch.Tensor:
        """y_t of eq. 6 for one image (what the decoder receives), without coding."""
        y0 = self.autoencoder.encode(x).float().cpu()
        _, a, step, u = self._quantizer(t_map, y0.shape[1], seed)
        return torch.round((a * y0 - u) / step) * step + u

    def information(self, x, t_map: np.ndarray, seed: int) -> tuple[torch.Tensor, float]:
        """-log2 p of each latent element (1xCxHxW) and the hyper latent's total bits: the rate
        the entropy coder reaches, per latent pixel (bit allocation maps, estimate=true)."""
        self.entropy.eval()
        y0 = self.autoencoder.encode(x).float().cpu()
        _, a, step, u = self._quantizer(t_map, y0.shape[1], seed)
        _, lik = self.entropy(a * y0, step, self.cond(step), u)
        return -lik["y"].clamp_min(1e-9).log2(), float(-lik["z"].clamp_min(1e-9).log2().sum())

    def decompress(self, streams: list[bytes], latent_hw: tuple[int, int], seed: int, sampler: str):
        t_map = decode_map(streams[0], latent_hw)
        t, _, step, u = self._quantizer(t_map, self.autoencoder.channels, seed)
        y_t = self.entropy.decompress(streams[1:], latent_hw, step, self.cond(step), u)
        return self.autoencoder.decode(self.reverse(y_t.to(self.device), t.to(self.device), sampler, seed))

    def reverse(self, y_t, t: torch.Tensor, sampler: str, seed: int = 0):
        """The sampler (tau network evaluations):
        resample   the paper's timestep resampling, tau = max(t);
        repaint    the RePaint multi-region ablation (appendix A.3), tau = max(t);
        ddim-roi   scalar DDIM as if every pixel were at min(t) (UDDQ-ROI, appendix A.4);
        ddim-bg    scalar DDIM from max(t) (UDDQ-BG)."""
        if sampler == "resample":
            return spatial_ddim(self.predict_v, y_t, [s.float() for s in resampled_step_maps(t)])
        if sampler == "repaint":
            return repaint_regions(self.predict_v, y_t, t, seed + 1)
        if sampler in ("ddim-roi", "ddim-bg"):
            tau = int(t.min() if sampler == "ddim-roi" else t.max())
            return spatial_ddim(self.predict_v, y_t, [torch.full_like(t, s).float() for s in ddim_steps(tau)])
        raise ValueError(f"sampler {sampler!r}: use one of {', '.join(SAMPLERS)}")
