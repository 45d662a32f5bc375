"""CADC, the content-adaptive one-step diffusion codec ("CADC: Content Adaptive Diffusion-Based
Generative Image Compression"): UGAQ (uncertainty-guided adaptive quantization), ADGIC (an
auxiliary decoder on the first 4 latent channels), BFATC (a BLIP caption of the auxiliary
reconstruction as the text condition, derived by the decoder: no bits). Networks in model.py.

The knob is Delta, the quantization bin width of eq. 5 (larger = fewer bits; one model serves
every Delta, see model.py). Options:
    captions=true|false   BFATC on or off at decode time (off: the fixed prompt alone); the
                          bitstream is the same either way
Configs (codecs/cadc/configs): tiny (TAESD latent space, CPU-sized transforms and U-Net, no
text encoder: a zero text context), paper (SD-Turbo's U-Net, VAE and text encoder, BLIP base,
CLIP and DINOv2 from local folders). The UGAQ ablation (m = 1) is a model trained with
`--set ugaq.enabled=false`.
"""

from __future__ import annotations

from bench.codec import register_codec
from bench.diffusion.codec import DiffusionCodec


def _flag(value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


_flag.__name__ = "true/false"


@register_codec
class CADCCodec(DiffusionCodec):
    name = "cadc"
    rate_param = "delta"
    rate_range = (0.01, 256.0)
    rate_increases_bpp = False
    default_rates = (1.0, 2.0, 4.0, 8.0)
    description = ("CADC content-adaptive one-step diffusion codec (UGAQ, ADGIC, BFATC); knob delta = the "
                   "quantization bin width (larger = fewer bits); captions=true|false; checkpoint=DIR from "
                   "`bench train cadc` (--set ugaq.enabled=false trains the isotropic-quantization ablation)")
    sampler_options = {"captions": _flag}

    @classmethod
    def model_class(cls):
        from .model import CADCModel
        return CADCModel

    @classmethod
    def padding_multiple(cls, config: dict) -> int:
        """y is at 1/factor and z at a quarter of that."""
        return int(config["analysis"]["factor"]) * 4

    def unavailable_at(self, rates: list[float]) -> str | None:
        from bench.errors import BenchError
        missing = super().unavailable_at(rates)
        if missing is None:
            try:
                from .model import check_components
                check_components(self.config)
            except BenchError as exc:
                return str(exc)
        return missing

    def compress(self, at, x):
        return [(strings, []) for strings in at.net.compress(x, at.rate)]

    def decompress(self, at, coded, height, width):
        f = at.net.factor
        return at.net.decompress([s for s, _ in coded], (height // f, width // f), at.rate)

    def likelihood_bits(self, at, x):
        return at.net.information(x, at.rate)
