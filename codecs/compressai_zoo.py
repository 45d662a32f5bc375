"""CompressAI's image models (Balle 2018 factorized and hyperprior, Minnen 2018 mean-scale and
joint autoregressive, Cheng 2020 anchor and attention) through the compressai package's own
compress()/decompress(): real rANS-coded strings, not likelihoods.

Knob: CompressAI's quality index, 1..8 (1..6 for cheng2020). `metric=ms-ssim` selects the
models trained for MS-SSIM. Weights: the official checkpoints (`bench weights list`; put the
files in $BENCH_WEIGHTS_DIR or torch's hub cache), `checkpoint=FILE|FOLDER` for your own,
or `pretrained=false` for seeded random weights (tests, timing).

On a GPU the analysis and synthesis transforms run on the device; everything that feeds
the entropy coder (hyper networks, context model, CDF tables) runs on the CPU in float32,
so the decoder rebuilds exactly the encoder's CDFs on any machine.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codec import register_codec
from bench.errors import BenchError
from bench.learned import LearnedCodec, information_bits

METRICS = ("mse", "ms-ssim")


def _nets():
    from compressai.zoo.image import cfgs, model_architectures
    return model_architectures, cfgs


def stand_ins():
    """Modules to put in place of g_a and g_s in the CPU copy of a model, so that the library's
    own compress() and decompress() run every entropy-coding step while the transforms run on
    the device (torch is imported here, not when the adapter is listed)."""
    import torch

    class Given(torch.nn.Module):           # g_a's place: the latent computed on the device
        latent = None

        def forward(self, x):
            return self.latent

    class Kept(torch.nn.Module):            # g_s's place: keeps the decoded latent for the device
        latent = None

        def forward(self, y_hat):
            self.latent = y_hat
            return y_hat.new_zeros(())       # the library clamps what comes back: nothing to clamp

    return Given(), Kept()


class SplitModel:
    def __init__(self, net, device: str):
        self.g_a, self.g_s, self.device = net.g_a.to(device), net.g_s.to(device), device
        net.g_a, net.g_s = stand_ins()
        self.entropy = net.cpu().float()
        self.entropy.update()                 # CDF tables, unless the checkpoint carries them

    def _latent(self, x):
        self.entropy.g_a.latent = self.g_a(x).float().cpu()
        return x.cpu()

    def compress(self, x) -> dict:
        return self.entropy.compress(self._latent(x))

    def decompress(self, strings, shape):
        self.entropy.decompress(strings, shape)
        return self.g_s(self.entropy.g_s.latent.to(self.device))

    def likelihoods(self, x) -> dict:
        return self.entropy(self._latent(x))["likelihoods"]


class CompressAIZoo(LearnedCodec):
    arch: ClassVar[str]
    library = "compressai"
    rate_range = (1, 8)
    default_rates = (1, 2, 3, 4, 5, 6, 7, 8)

    def __init__(self, metric: str = "mse", **options):
        if metric not in METRICS:
            raise BenchError(f"{self.name}: metric= takes {' or '.join(METRICS)}, got '{metric}'")
        super().__init__(**({"metric": metric} if metric != "mse" else {}), **options)
        self.metric = metric

    def build(self, rate: float):
        architectures, cfgs = _nets()
        return architectures[self.arch](*cfgs[self.arch][int(rate)])

    def official_weights(self, rate: float) -> str:
        return f"compressai/{self.arch}/{self.metric}/{int(rate)}"

    def from_state_dict(self, rate: float, state_dict: dict):
        from compressai.zoo.pretrained import load_pretrained
        architectures, _ = _nets()
        return architectures[self.arch].from_state_dict(load_pretrained(state_dict))

    def prepare(self, net, device: str):
        return SplitModel(net, device)

    def compress(self, model: SplitModel, x):
        out = model.compress(x)
        shape = [int(v) for v in out["shape"]]
        return [([s[i] for s in out["strings"]], shape) for i in range(x.shape[0])]

    def decompress(self, model: SplitModel, coded, height: int, width: int):
        strings = [[streams[k] for streams, _ in coded] for k in range(len(coded[0][0]))]
        return model.decompress(strings, coded[0][1])

    def likelihood_bits(self, model: SplitModel, x) -> list[float]:
        return information_bits(model.likelihoods(x).values())


@register_codec
class Bmshj2018Factorized(CompressAIZoo):
    name = "bmshj2018-factorized"
    arch = "bmshj2018-factorized"
    description = "Balle et al. 2018 factorized prior (CompressAI), quality 1..8"


@register_codec
class Bmshj2018Hyperprior(CompressAIZoo):
    name = "bmshj2018-hyperprior"
    arch = "bmshj2018-hyperprior"
    description = "Balle et al. 2018 scale hyperprior (CompressAI), quality 1..8"


@register_codec
class Mbt2018Mean(CompressAIZoo):
    name = "mbt2018-mean"
    arch = "mbt2018-mean"
    description = "Minnen et al. 2018 mean-scale hyperprior (CompressAI), quality 1..8"


@register_codec
class Mbt2018(CompressAIZoo):
    name = "mbt2018"
    arch = "mbt2018"
    description = "Minnen et al. 2018 joint autoregressive + hyperprior (CompressAI), quality 1..8"


@register_codec
class Cheng2020Anchor(CompressAIZoo):
    name = "cheng2020-anchor"
    arch = "cheng2020-anchor"
    rate_range = (1, 6)
    default_rates = (1, 2, 3, 4, 5, 6)
    description = "Cheng et al. 2020 anchor (CompressAI), quality 1..6"


@register_codec
class Cheng2020Attn(CompressAIZoo):
    name = "cheng2020-attn"
    arch = "cheng2020-attn"
    rate_range = (1, 6)
    default_rates = (1, 2, 3, 4, 5, 6)
    description = "Cheng et al. 2020 with attention (CompressAI), quality 1..6"
