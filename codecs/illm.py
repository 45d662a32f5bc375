"""MS-ILLM (Muckley et al. 2023, "Improving statistical fidelity for neural image
compression with implicit local likelihood models") through the neuralcompression package:
its HiFiC autoencoder and its own compress()/decompress() (CompressAI's entropy coder).

`illm`: quality 1..6 (the official models target 0.035 .. 0.9 bpp); `illm-vlo`: the two
very-low-rate models (quality 1, 2: 0.00218 and 0.00438 bpp targets). The official weights
are CC-BY-NC 4.0; `bench weights list` names the files. On a GPU, neuralcompression keeps
the hyper networks and entropy tables on the CPU (its 'compress' device setting), so the
decoder rebuilds the encoder's CDFs exactly.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codec import register_codec
from bench.learned import LearnedCodec, information_bits


@register_codec
class ILLM(LearnedCodec):
    name = "illm"
    library = "neuralcompression"
    rate_range = (1, 6)
    default_rates = (1, 2, 3, 4, 5, 6)
    description = "MS-ILLM (NeuralCompression), quality 1..6 (0.035..0.9 bpp targets)"
    weights_family: ClassVar[str] = "illm/quality"

    def build(self, rate: float):
        from neuralcompression.models import HiFiCAutoencoder
        return HiFiCAutoencoder()

    def official_weights(self, rate: float) -> str:
        return f"{self.weights_family}/{int(rate)}"

    def prepare(self, net, device: str):
        net.to(device).update_tensor_devices("compress")    # entropy side on the CPU, tables built
        return net

    def compress(self, net, x):
        out = net.compress(x, force_cpu=False)
        return [([out.latent_strings[i], out.hyper_latent_strings[i]], []) for i in range(x.shape[0])]

    def decompress(self, net, coded, height: int, width: int):
        from neuralcompression import HyperpriorCompressedOutput
        data = HyperpriorCompressedOutput(latent_strings=[s[0] for s, _ in coded],
                                          hyper_latent_strings=[s[1] for s, _ in coded],
                                          image_size=(height, width), padded_size=(height, width))
        return net.decompress(data, force_cpu=False)

    def likelihood_bits(self, net, x) -> list[float]:
        net.update_tensor_devices("forward")
        try:
            out = net(x)
        finally:
            net.update_tensor_devices("compress")
        return information_bits((out.quantized_latent_likelihoods, out.quantized_hyper_latent_likelihoods))


@register_codec
class ILLMVeryLow(ILLM):
    name = "illm-vlo"
    rate_range = (1, 2)
    default_rates = (1, 2)
    description = "MS-ILLM very-low-rate models (NeuralCompression), quality 1..2 (0.00218, 0.00438 bpp)"
    weights_family = "illm/vlo"
