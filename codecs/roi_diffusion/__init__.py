"""The region-adaptive diffusion codec ("Region-adaptive generative compression with spatially
varying diffusion models") and its UDDQ baselines (Relic et al.'s uniform diffusion codec,
the paper's appendix A.4), on one model class (model.py).

The rate knob is t, the ROI's DDIM step count (1..50; larger t: more noise, fewer bits). With
--roi-masks the timestep map is t inside the ROI and the background's t_bg outside (graded
masks in between, average-pooled to the latent); without masks it is t everywhere.
    bg_factor=4      t_bg = min(50, round(bg_factor * t))   (the paper's appendix C: 5 and 50)
    bg_t=N           a fixed background t instead
    sampler=         resample (the paper's timestep resampling) | repaint (the RePaint
                     ablation, appendix A.3) | ddim-roi (scalar DDIM at the ROI's t: UDDQ-ROI)
                     | ddim-bg (at the background's: UDDQ-BG)
    noise_seed=N     the dither's seed (written in every bitstream)
Configs: codecs/roi_diffusion/configs (tiny: TAESD latents, a CPU-sized U-Net; paper: SD 2.1
from a local diffusers folder) and configs/uddq (the same with a spatially uniform model and
an entropy model without timestep conditioning).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.codec import register_codec
from bench.diffusion.codec import DiffusionCodec


@register_codec
class RegionDiffusionCodec(DiffusionCodec):
    name = "roi-diffusion"
    rate_param = "t"
    rate_range = (1, 50)
    rate_is_integer = True
    rate_increases_bpp = False
    supports_roi = True
    default_rates = (3, 5, 8, 12)
    description = ("region-adaptive spatially varying diffusion codec; knob t = the ROI's DDIM steps (larger = "
                   "fewer bits), background t_bg = min(50, bg_factor*t) (bg_factor=4) or bg_t=N; "
                   "sampler=resample|repaint|ddim-roi|ddim-bg; checkpoint=DIR from `bench train roi-diffusion`")
    sampler_options = {"bg_factor": float, "bg_t": int, "sampler": str}
    default_sampler = "resample"

    def check_sampler(self, sampler: dict) -> None:
        from bench.errors import BenchError

        from .model import SAMPLERS, T_MAX
        if sampler.get("sampler", self.default_sampler) not in SAMPLERS:
            raise BenchError(f"{self.name}: sampler={sampler['sampler']}; use one of {', '.join(SAMPLERS)}")
        if sampler.get("bg_factor", 4.0) <= 0 or not 1 <= sampler.get("bg_t", 1) <= T_MAX:
            raise BenchError(f"{self.name}: bg_factor must be above 0 and bg_t between 1 and {T_MAX}")

    @classmethod
    def model_class(cls):
        from .model import RegionDiffusionModel
        return RegionDiffusionModel

    def timestep_map(self, roi: np.ndarray | None, t: int, latent_hw: tuple[int, int], factor: int) -> np.ndarray:
        from bench.masks.levels import level_map, pool_to_latent

        from .model import T_MAX
        s = self.config.get("sampler", {})
        bg = int(s["bg_t"]) if s.get("bg_t") else min(T_MAX, round(float(s.get("bg_factor", 4.0)) * t))
        if roi is None:
            return np.full(latent_hw, int(t), dtype=np.int64)
        pooled = pool_to_latent(level_map(roi, t, bg), factor)
        return np.clip(np.rint(pooled), 1, T_MAX).astype(np.int64)

    def _maps(self, at, x, rois):
        f = at.net.autoencoder.factor
        hw = (x.shape[-2] // f, x.shape[-1] // f)
        return [self.timestep_map(r, int(at.rate), hw, f) for r in rois]

    def compress(self, at, x, rois):
        return [(streams, [self.noise_seed]) for streams in at.net.compress(x, self._maps(at, x, rois), self.noise_seed)]

    def decompress(self, at, coded, height, width):
        import torch
        f = at.net.autoencoder.factor
        sampler = self.config.get("sampler", {}).get("sampler", self.default_sampler)
        return torch.cat([at.net.decompress(streams, (height // f, width // f), fields[0], sampler)
                          for streams, fields in coded])

    def likelihood_bits(self, at, x, rois):
        from bench.diffusion.timestep_maps import encode_map
        out = []
        for i, t_map in enumerate(self._maps(at, x, rois)):
            bits, z_bits = at.net.information(x[i:i + 1], t_map, self.noise_seed)
            out.append(float(bits.sum()) + z_bits + 8 * len(encode_map(t_map)))
        return out


@register_codec
class UDDQCodec(RegionDiffusionCodec):
    """Relic et al.'s uniform diffusion codec as the region-adaptive paper builds its baselines:
    per-pixel quantization to the same timestep map, a spatially uniform diffusion model and an
    entropy model without timestep conditioning; decoded by scalar DDIM at the ROI's t (UDDQ-ROI;
    sampler=ddim-bg: UDDQ-BG; sampler=repaint: the RePaint ablation). Without masks: UDDQ."""
    name = "uddq"
    description = ("UDDQ baselines (spatially uniform diffusion codec): knob t (DDIM steps, larger = fewer bits); "
                   "with --roi-masks UDDQ-ROI (sampler=ddim-roi), UDDQ-BG (sampler=ddim-bg) or RePaint "
                   "(sampler=repaint); bg_factor/bg_t as roi-diffusion; checkpoint=DIR from `bench train uddq`")
    default_sampler = "ddim-roi"

    @classmethod
    def config_folder(cls) -> Path:
        return Path(__file__).parent / "configs" / "uddq"
