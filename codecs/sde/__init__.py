"""The rate-variable SDE codec ("Generative image compression by estimating gradients of the
rate-variable feature distribution", ICLR 2026 submission): one model for every rate, the
rate knob q of quantization scaling (larger q, fewer bits), decoded by two reverse-SDE steps
q -> 0.13 -> 0 from the quantized latent itself.

Options (ablations of the paper's section 4.2 and appendix A): beta= (0.075; 0 = the
deterministic ODE sampler), noise=gaussian|uniform, steps= (network evaluations, 2; 0
decodes the quantized latent without the reverse process), q1= (the intermediate point,
0.13), noise_seed= (written in every bitstream).
Configs (codecs/sde/configs): tiny (TAESD latent space, CPU demos and tests), paper (the
paper's sizes: KL-f4 latent space, 3-slice NAF entropy model, EDM-style U-Net; a GPU).
"""

from __future__ import annotations

from bench.codec import register_codec
from bench.diffusion.codec import DiffusionCodec


@register_codec
class SDECodec(DiffusionCodec):
    name = "sde"
    rate_param = "q"
    rate_range = (0.01, 8.0)
    rate_increases_bpp = False
    default_rates = (1.2, 0.9, 0.7, 0.45, 0.3)
    description = ("rate-variable SDE diffusion codec (2-step reverse SDE); knob q (larger = fewer bits); "
                   "checkpoint=DIR from `bench train sde`; options beta, noise, steps, q1")
    sampler_options = {"beta": float, "noise": str, "steps": int, "q1": float}

    def check_sampler(self, sampler: dict) -> None:
        from bench.diffusion.samplers import NOISE_FORMS
        from bench.errors import BenchError
        if sampler.get("noise", "gaussian") not in NOISE_FORMS:
            raise BenchError(f"sde: noise={sampler['noise']}; use one of {', '.join(NOISE_FORMS)}")
        if sampler.get("steps", 2) < 0 or sampler.get("beta", 0.0) < 0 or sampler.get("q1", 0.13) <= 0:
            raise BenchError("sde: steps must be 0 or more, beta 0 or more and q1 above 0")

    @classmethod
    def model_class(cls):
        from .model import SDEModel
        return SDEModel

    def compress(self, at, x):
        return [(strings, [self.noise_seed]) for strings in at.net.compress(x, at.rate)]

    def decompress(self, at, coded, height, width):
        f = at.net.autoencoder.factor
        return at.net.decompress([s for s, _ in coded], (height // f, width // f), at.rate,
                                 [fields[0] for _, fields in coded])

    def likelihood_bits(self, at, x):
        return at.net.latent_bits(x, at.rate)
