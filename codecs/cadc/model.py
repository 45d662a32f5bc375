"""CADC's networks ("CADC: Content Adaptive Diffusion-Based Generative Image Compression",
section 4 and supplementary 7).

Encoder: y = g_a(x) (1/64), z_hat = round(h_a(y)) (1/256); UGAQ (eqs. 1-8): r = y - UP(z_hat)
(bilinear), m = f_u(r) >= 1, y_bar = y / m, y_hat = round(y_bar / Delta) * Delta; y_hat and
z_hat coded by the hyperprior + 4-step quadtree context model (bench.diffusion.quadtree).
m is never transmitted: the decoder feeds y_hat on without the inverse scaling (eq. 7).
`ugaq.enabled = false`: m = 1, the paper's isotropic-quantization ablation.

Decoder: l_T = g_s(y_hat), C channels at the diffusion latent's resolution; ADGIC (eq. 9):
x_aux = g_aux(l_T[:, :4]); BFATC (eqs. 11-12): caption(x_aux) + the fixed prompt, encoded by
the diffusion model's text encoder (no bits: the decoder derives it); the U-Net sees all C
channels (its first convolution widened) and predicts the noise of the first 4; one step
(SD-Turbo style, at `denoiser.timestep`) gives l_0, which the VAE decoder turns into x_hat.

Our choices where the paper is silent (said in the configs): m has y's shape (element-wise
division); the caption is joined to the fixed prompt with a space; one model serves every
Delta (the knob; the paper trains one model per lambda): training draws Delta per image,
log-uniform in [rate.delta_min, rate.delta_max], and the entropy model sees log Delta;
the tiny config's transforms are conv + NAF blocks instead of InceptionNeXt/GatedCNN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.diffusion.blocks import naf_stack
from bench.diffusion.denoisers import build_unet, pretrained_unet
from bench.diffusion.discriminator import build_discriminator, hinge_losses
from bench.diffusion.model import LatentCodecModel
from bench.diffusion.quadtree import QuadtreeEntropyModel
from bench.diffusion.schedules import alpha_sigma


def _levels(factor: int) -> int:
    n = int(round(math.log2(factor)))
    if 2 ** n != factor:
        raise ValueError(f"downsampling factor {factor} is not a power of 2")
    return n


def analysis(channels: int, widths: list[int], factor: int, blocks: int) -> nn.Sequential:
    """x (3 channels) -> y at 1/factor: a 4x pixel unshuffle, then stride-2 convs."""
    mods: list[nn.Module] = [nn.PixelUnshuffle(4), nn.Conv2d(48, widths[0], 3, padding=1), nn.GELU()]
    c = widths[0]
    for k in range(_levels(factor) - 2):
        w = widths[min(k, len(widths) - 1)]
        mods += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.GELU(), naf_stack(w, blocks)]
        c = w
    return nn.Sequential(*mods, nn.Conv2d(c, channels, 3, padding=1))


def synthesis(inp: int, out: int, widths: list[int], factor: int, blocks: int) -> nn.Sequential:
    """inp channels -> out channels, factor times larger: sub-pixel convolutions."""
    mods: list[nn.Module] = [nn.Conv2d(inp, widths[0], 3, padding=1), nn.GELU()]
    c = widths[0]
    for k in range(_levels(factor)):
        w = widths[min(k, len(widths) - 1)]
        mods += [nn.Conv2d(c, 4 * w, 3, padding=1), nn.PixelShuffle(2), nn.GELU(), naf_stack(w, blocks)]
        c = w
    return nn.Sequential(*mods, nn.Conv2d(c, out, 3, padding=1))


class UncertaintyNet(nn.Module):
    """f_u of eq. 3: m = 1 + softplus(net(r)) >= 1 everywhere."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.GELU(),
                                 nn.Conv2d(width, width, 3, padding=1), nn.GELU(),
                                 nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, r):
        return 1.0 + F.softplus(self.net(r))


def widen_conv_in(unet, channels: int):
    """The U-Net's first convolution takes `channels` inputs: the pretrained kernel for the first
    4, zeros for the rest (the widened U-Net starts as the pretrained one)."""
    old = unet.conv_in
    if old.in_channels == channels:
        return unet
    new = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=channels)
    return unet


def has_text_encoder(config: dict) -> bool:
    text = config.get("text", {})
    return bool(text.get("path") or text.get("pipeline"))


def component_spec(config: dict, key: str) -> dict:
    """The table a frozen component loads from; the text encoder may be the diffusion
    pipeline's own (text.pipeline = true: where the [autoencoder] folder is)."""
    if key != "encoder":
        return config.get(key, {})
    text = config.get("text", {})
    if text.get("pipeline") and not text.get("path"):
        return {**config["autoencoder"], "max_length": text.get("max_length", 77)}
    return text


def captions_on(config: dict) -> bool:
    return bool(config.get("sampler", {}).get("captions", config.get("text", {}).get("captions", False)))


def _require_text_encoder(config: dict) -> None:
    if captions_on(config) and not has_text_encoder(config):
        from bench.errors import BenchError
        raise BenchError("cadc: captions=true (BFATC) needs the U-Net's text encoder: set text.path=DIR "
                         "(a diffusers pipeline folder with tokenizer/ and text_encoder/) or captions=false")


def check_components(config: dict) -> None:
    """Load what decoding needs beyond the checkpoint (text encoder, captioner): a missing
    folder stops a run before any work, with one line."""
    from bench.diffusion import text
    _require_text_encoder(config)
    if has_text_encoder(config):
        text.load_text_encoder(component_spec(config, "encoder"))
    if captions_on(config):
        text.load_captioner(component_spec(config, "captioner"))


class CADCModel(LatentCodecModel):
    log_terms = ("bpp", "mse", "lpips", "clip", "aux_mse", "g_adv", "d_loss", "m_mean", "delta", "aux")

    def __init__(self, config: dict, autoencoder):
        super().__init__()
        a, s, e, u, den = (config[k] for k in ("analysis", "synthesis", "entropy", "ugaq", "denoiser"))
        self.config = config
        self.autoencoder = autoencoder          # frozen and not a submodule: not in checkpoints
        self.factor = int(a["factor"])
        channels, latent = int(a["channels"]), int(s["channels"])
        if latent < autoencoder.channels:
            raise ValueError(f"synthesis.channels ({latent}) must be at least the latent's {autoencoder.channels}")
        self.g_a = analysis(channels, a["widths"], self.factor, int(a.get("blocks", 1)))
        self.ugaq = bool(u.get("enabled", True))
        self.f_u = UncertaintyNet(channels, int(u.get("width", 64)))
        self.entropy = QuadtreeEntropyModel(channels, channels, int(e["width"]), int(e.get("blocks", 1)),
                                            cond_channels=1)
        self.g_s = synthesis(channels, latent, s["widths"], self.factor // autoencoder.factor, int(s.get("blocks", 1)))
        self.g_aux = synthesis(autoencoder.channels, 3, config["aux"]["widths"], autoencoder.factor,
                               int(config["aux"].get("blocks", 0)))
        if den.get("pretrained"):
            unet = pretrained_unet(den, config["autoencoder"])
        else:
            unet = build_unet({k: v for k, v in den.items() if k not in ("timestep", "context_tokens")}
                              | {"out_channels": autoencoder.channels})
        self.denoiser = widen_conv_in(unet, latent)
        self.timestep = int(den.get("timestep", 999))
        self.context_tokens = int(den.get("context_tokens", 77))
        self.discriminator = build_discriminator(config.get("discriminator", {}))
        self.text_spec = dict(config.get("text", {}))
        self.captions = captions_on(config)
        self._text: dict = {}                   # frozen captioner / text / CLIP models, loaded on first use
        _require_text_encoder(config)
        self.device = "cpu"

    # --- frozen helpers (never in checkpoints) -----------------------------------------------
    def _frozen(self, key: str):
        if key not in self._text:
            from bench.diffusion import text
            loader = {"captioner": text.load_captioner, "encoder": text.load_text_encoder,
                      "clip": text.load_clip_image}[key]
            part = loader(self._spec(key))
            self._text[key] = part.to(next(self.g_a.parameters()).device) if hasattr(part, "to") else part
        return self._text[key]

    def _spec(self, key: str) -> dict:
        return component_spec(self.config, key)

    @property
    def has_text_encoder(self) -> bool:
        return has_text_encoder(self.config)

    def prompts(self, x_aux) -> list[str]:
        """BFATC: c = caption(x_aux) + c_fix (captions off: c_fix alone)."""
        from bench.diffusion.text import FIXED_PROMPT, prompt
        fixed = self.text_spec.get("fixed_prompt", FIXED_PROMPT)
        if not self.captions:
            return [fixed] * x_aux.shape[0]
        caps = self._frozen("captioner").caption(x_aux.detach().clamp(0, 1))
        return [prompt(c, fixed) for c in caps]

    def context(self, x_aux):
        """The U-Net's text context; without a text encoder (tiny configs) an all-zero context."""
        dim = self.denoiser.config.cross_attention_dim
        if not self.has_text_encoder:
            return x_aux.new_zeros(x_aux.shape[0], self.context_tokens, dim)
        with torch.no_grad():
            return self._frozen("encoder").encode(self.prompts(x_aux), x_aux.device)

    # --- the transforms -----------------------------------------------------------------------
    def uncertainty(self, y, z_hat):
        """m (eq. 3) from r = y - UP(z_hat) (eqs. 1-2); ones in the m = 1 ablation."""
        if not self.ugaq:
            return torch.ones_like(y)
        r = y - F.interpolate(z_hat, size=y.shape[-2:], mode="bilinear", align_corners=False)
        return self.f_u(r)

    def denoise(self, l_T, context):
        """One step at `timestep`: the U-Net sees all of l_T, predicts the noise of its first 4
        channels, l_0 = (l_T[:, :4] - sigma eps) / alpha."""
        eps = self.denoiser(l_T, torch.full((l_T.shape[0],), self.timestep, device=l_T.device),
                            encoder_hidden_states=context).sample
        a, s = alpha_sigma(torch.tensor(self.timestep, device=l_T.device))
        return (l_T[:, : eps.shape[1]] - s * eps) / a

    def auxiliary(self, l_T):
        """ADGIC's x_aux = g_aux(l_T[:, :4]) (eq. 9): the other channels never reach it."""
        return self.g_aux(l_T[:, : self.autoencoder.channels])

    def synthesize(self, y_hat):
        """(x_hat, x_aux, l_T) from the quantized latent."""
        l_T = self.g_s(y_hat)
        x_aux = self.auxiliary(l_T)
        l_0 = self.denoise(l_T, self.context(x_aux))
        return self.autoencoder.decode(l_0), x_aux, l_T

    @staticmethod
    def delta_map(delta, y):
        d = torch.as_tensor(delta, dtype=y.dtype, device=y.device).reshape(-1, 1, 1, 1)
        return d.expand(y.shape[0], 1, 1, 1), d.log().expand(y.shape[0], 1, *y.shape[-2:])

    # --- training (bench train) ---------------------------------------------------------------
    def loss(self, stage: dict, x):
        b = x.shape[0]
        r = self.config["rate"]
        lo, hi = math.log(float(r["delta_min"])), math.log(float(r["delta_max"]))
        delta = torch.exp(lo + (hi - lo) * torch.rand(b, device=x.device))
        y = self.g_a(x)
        z_hat, z_lik = self.entropy.hyper(y)
        m = self.uncertainty(y, z_hat)
        step, cond = self.delta_map(delta, y)
        y_hat, y_lik = self.entropy(y / m, step, z_hat, cond)
        l_T = self.g_s(y_hat)
        x_aux = self.auxiliary(l_T)
        l_0 = self.denoise(l_T, self.context(x_aux))
        x_hat, ref = self._decode_window(l_0, x, int(stage.get("decode_crop", 0)))
        bpp = -(y_lik.clamp_min(1e-9).log2().sum() + z_lik.clamp_min(1e-9).log2().sum()) / (b * x.shape[-2] * x.shape[-1])
        terms = {"mse": F.mse_loss(x_hat, ref)}
        if float(stage.get("d_lpips", 0)):
            terms["lpips"] = self._lpips(stage)(2 * x_hat - 1, 2 * ref - 1).mean()
        if float(stage.get("d_clip", 0)):
            clip = self._frozen("clip")
            terms["clip"] = (clip.embed(x_hat) - clip.embed(ref)).norm(dim=-1).mean()
        if float(stage.get("d_aux", 0)):
            terms["aux_mse"] = F.mse_loss(x_aux, x)
        loss = float(stage["lambda"]) * bpp + sum(float(stage.get(f"d_{k}", 0)) * v for k, v in
                                                  {"mse": terms["mse"], "lpips": terms.get("lpips", 0),
                                                   "clip": terms.get("clip", 0), "aux": terms.get("aux_mse", 0)}.items())
        if float(stage.get("d_adv", 0)):
            terms["g_adv"], terms["d_loss"] = hinge_losses(self.discriminator, ref, x_hat)
            loss = loss + float(stage["d_adv"]) * terms["g_adv"] + terms["d_loss"]
        aux = self.entropy.aux_loss()
        log = {k: float(v.detach()) for k, v in terms.items()}
        return loss + aux, {**log, "bpp": float(bpp.detach()), "m_mean": float(m.detach().mean()),
                            "delta": float(delta.mean()), "aux": float(aux.detach())}

    def _decode_window(self, l_0, x, size: int):
        """(x_hat, x) on a random window of `size` pixels (the same for the batch): the VAE
        decoder's backward pass dominates a CPU step, and the loss needs no whole crop
        (0: the whole crop)."""
        f = self.autoencoder.factor
        if not size or size >= x.shape[-1]:
            return self.autoencoder.decode(l_0), x
        n = size // f
        i, j = (int(torch.randint(0, d - n + 1, ())) for d in l_0.shape[-2:])
        window = self.autoencoder.decode(l_0[..., i:i + n, j:j + n])
        return window, x[..., i * f:(i + n) * f, j * f:(j + n) * f]

    def _lpips(self, stage: dict):
        """LPIPS v0.1 through the suite's verified weights (VGG as the paper; alex where a stage
        says so, for CPU-sized runs)."""
        net = stage.get("lpips_net", "vgg")
        key = f"lpips-{net}"
        if key not in self._text:
            from bench.metrics.lpips import LPIPSVGG, LPIPSAlex, _lpips_module
            cls = LPIPSVGG if net == "vgg" else LPIPSAlex
            self._text[key] = _lpips_module(cls.trunk, *cls.weights).to(next(self.g_a.parameters()).device)
        return self._text[key]

    # --- coding ---------------------------------------------------------------------------------
    def analyse(self, x):
        """(y_bar, z_hat) of a batch on the CPU (what the entropy coder sees): g_a and f_u run on
        the device, h_a with the entropy model on the CPU."""
        y = self.g_a(x)
        z_hat = torch.round(self.entropy.h_a(y.float().cpu()))
        m = self.uncertainty(y, z_hat.to(y.device))
        return (y / m).float().cpu(), z_hat

    @staticmethod
    def coding_cond(delta: float, latent_hw) -> torch.Tensor:
        """log Delta as the entropy model's context, built the same way by encoder and decoder."""
        return torch.full((1, 1, *latent_hw), math.log(float(delta)))

    def compress(self, x, delta: float) -> list[list[bytes]]:
        """Per image: [z, step 1..4] strings."""
        y_bar, z_hat = self.analyse(x)
        cond = self.coding_cond(delta, y_bar.shape[-2:])
        return [self.entropy.compress(y_bar[i:i + 1], float(delta), z_hat[i:i + 1], cond)[0]
                for i in range(x.shape[0])]

    def quantized_latent(self, x, delta: float):
        """y_hat (eq. 5) for a batch, without coding."""
        return torch.round(self.analyse(x)[0] / delta) * delta

    def information(self, x, delta: float) -> list[float]:
        """-log2 p of y_hat and z_hat per image: the rate the coder reaches (estimate=true)."""
        self.entropy.eval()
        y_bar, z_hat = self.analyse(x)
        cond = self.coding_cond(delta, y_bar.shape[-2:])
        out = []
        for i in range(x.shape[0]):
            _, lik = self.entropy(y_bar[i:i + 1], float(delta), z_hat[i:i + 1], cond)
            _, z_lik = self.entropy.z_model(z_hat[i:i + 1])
            out.append(float(-lik.clamp_min(1e-9).log2().sum() - z_lik.clamp_min(1e-9).log2().sum()))
        return out

    def decompress(self, streams: list[list[bytes]], latent_hw: tuple[int, int], delta: float):
        y_hat = []
        for strings in streams:
            cond = self.coding_cond(delta, latent_hw)
            y_hat.append(self.entropy.decompress(strings, latent_hw, float(delta), cond)[0])
        return self.synthesize(torch.cat(y_hat).to(self.device))[0]

    def place(self, device: str):
        super().place(device)
        for name in ("g_a", "f_u", "g_s", "g_aux"):
            getattr(self, name).to(device)
        return self
