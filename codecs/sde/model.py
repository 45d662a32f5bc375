"""The rate-variable SDE codec's networks ("Generative image compression by estimating
gradients of the rate-variable feature distribution", sections 3-4, appendices B and F).

- the frozen latent autoencoder (E, D);
- the rate-variable entropy model E_phi: quantization scaling y_q = round(y/q)*q (eq. 5) in a
  hyperprior + channel-slice model, conditioned on log q;
- the reverse network D_theta(y_q, q): a diffusers U-Net with EDM preconditioning at the
  noise level sigma = q / sqrt(12) of the uniform quantization noise (our reading: the paper
  uses the EDM U-Net and names no preconditioning).

Training (bench train): stage `entropy` minimises eq. 14, -log2 p(z_hat) - log2 p(y_hat) +
lambda' ||y_hat - y||^2, with (lambda, q) drawn from the config's list; stage `denoiser`
minimises eq. 15, ||y_0 - D_theta(E_phi(y_0, q), q)||^2 with q ~ U(q_min, q_max), simulated
quantization y_0 + U(-1/2, 1/2) q below the entropy model's smallest trained q (section 3.1).

The paper gives lambda without its units. We pair each lambda with the q that is rate-
distortion optimal for it at high rate with uniform quantization: the rate of a step q
falls by 1/ln 2 bits per unit of ln q and the distortion grows as q^2/12, so q_k^2 =
6 / (ln 2 * lambda_k * K); K (`lambda_scale`) is set so the smallest lambda gets the
config's q_max. The rate term is in bits per latent element and the distortion the mean
squared error per element.
"""

from __future__ import annotations

import math

import torch

from bench.diffusion.denoisers import EDMDenoiser, build_unet, uniform_sigma
from bench.diffusion.entropy import SliceEntropyModel
from bench.diffusion.model import LatentCodecModel
from bench.diffusion.samplers import rate_variable_sde, two_step_schedule


def rate_points(rate: dict) -> list[tuple[float, float]]:
    """(lambda, q) pairs of the multi-rate entropy training."""
    lams = [float(v) for v in rate["lambdas"]]
    return [(lam, float(rate["q_max"]) * math.sqrt(min(lams) / lam)) for lam in lams]


def lambda_scale(rate: dict) -> float:
    return 6.0 / (math.log(2) * min(float(v) for v in rate["lambdas"]) * float(rate["q_max"]) ** 2)


class SDEModel(LatentCodecModel):
    log_terms = ("rd", "bpp", "mse", "q", "aux", "q_mean")      # loss.csv columns besides the loss

    def __init__(self, config: dict, autoencoder):
        super().__init__()
        ent, den, self.rate_cfg = config["entropy"], config["denoiser"], config["rate"]
        c = autoencoder.channels
        self.autoencoder = autoencoder          # frozen and not a submodule: not in checkpoints
        self.entropy = SliceEntropyModel(c, ent["hyper_channels"], ent["slices"], ent["width"], ent["blocks"],
                                         cond_channels=1)
        unet = {k: v for k, v in den.items() if k not in ("sigma_data", "noise_scale")}
        self.denoiser = EDMDenoiser(build_unet({**unet, "in_channels": c, "out_channels": c}),
                                    den.get("sigma_data", 0.5), den.get("noise_scale", 250.0))
        self.sampler = dict(config.get("sampler", {}))
        self.device = "cpu"

    # --- shared pieces -----------------------------------------------------------------------
    @staticmethod
    def cond(y, q):
        """The entropy model's conditioning: log q as a map (q per image or one number)."""
        q = torch.as_tensor(q, dtype=y.dtype, device=y.device).reshape(-1, 1, 1, 1)
        return q.log().expand(y.shape[0], 1, *y.shape[2:])

    @property
    def q_trained(self) -> tuple[float, float]:
        qs = [q for _, q in rate_points(self.rate_cfg)]
        return min(qs), max(qs)

    def denoise(self, x, q):
        return self.denoiser(x, uniform_sigma(torch.as_tensor(q, dtype=x.dtype, device=x.device)))

    # --- training (bench train) -----------------------------------------------------------------
    def loss(self, stage: dict, x):
        with torch.no_grad():
            y = self.autoencoder.encode(x)
        if stage["trains"] == "entropy":
            return self._entropy_loss(stage, y)
        return self._denoiser_loss(y)

    def _entropy_loss(self, stage: dict, y):
        pairs = dict(rate_points(self.rate_cfg))
        lams = [float(v) for v in stage.get("lambdas", list(pairs))]   # a fixed-rate stage names its own
        lam = lams[int(torch.randint(len(lams), ()))]
        if lam not in pairs:
            raise ValueError(f"stage {stage['name']}: lambda {lam} is not in [rate] lambdas")
        q = pairs[lam]
        y_hat, lik = self.entropy(y, q, self.cond(y, q))
        n = y.numel()
        bits_y = -lik["y"].clamp_min(1e-9).log2().sum() / n
        bits_z = -lik["z"].clamp_min(1e-9).log2().sum() / n
        mse = (y_hat - y).pow(2).mean()
        rd = bits_y + bits_z + lam * lambda_scale(self.rate_cfg) * mse
        aux = self.entropy.aux_loss()
        pixels = y.shape[0] * y.shape[2] * y.shape[3] * self.autoencoder.factor ** 2
        terms = {"rd": rd, "bpp": (bits_y + bits_z) * n / pixels, "mse": mse, "q": q, "aux": aux}
        return rd + aux, {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in terms.items()}

    def _denoiser_loss(self, y):
        b = y.shape[0]
        q_lo, q_hi = float(self.rate_cfg["q_min"]), float(self.rate_cfg["q_max"])
        q = q_lo + (q_hi - q_lo) * torch.rand(b, device=y.device)
        with torch.no_grad():
            step = q.view(b, 1, 1, 1)
            coded = self.entropy.quantize(y, step, self.cond(y, q))
            simulated = y + (torch.rand_like(y) - 0.5) * step
            y_q = torch.where(step >= self.q_trained[0], coded, simulated)
        y0_hat = self.denoise(y_q, q)
        return (y0_hat - y).pow(2).mean(), {"q_mean": float(q.mean())}

    # --- coding ------------------------------------------------------------------------------
    def compress(self, x, q: float) -> list[list[bytes]]:
        y = self.autoencoder.encode(x).float().cpu()
        return [self.entropy.compress(y[i:i + 1], q, self.cond(y[i:i + 1], q))[0] for i in range(y.shape[0])]

    def latent_bits(self, x, q: float) -> list[float]:
        from bench.learned import information_bits
        y = self.autoencoder.encode(x).float().cpu()
        return [information_bits(self._eval_likelihoods(y[i:i + 1], q))[0] for i in range(y.shape[0])]

    def _eval_likelihoods(self, y, q):
        self.entropy.eval()
        _, lik = self.entropy(y, q, self.cond(y, q))
        return list(lik.values())

    def decompress(self, strings: list[list[bytes]], latent_hw: tuple[int, int], q: float, seeds: list[int]):
        cpu = torch.zeros(1, self.autoencoder.channels, *latent_hw)
        y_q = torch.cat([self.entropy.decompress(s, latent_hw, q, self.cond(cpu, q)) for s in strings])
        y0 = self.reverse(y_q.to(self.device), q, seeds)
        return self.autoencoder.decode(y0)

    def reverse(self, y_q, q: float, seeds: list[int]):
        s = self.sampler
        schedule = two_step_schedule(q, float(s.get("q1", 0.13)), int(s.get("steps", 2)))
        return rate_variable_sde(self.denoise, y_q, schedule, float(s.get("beta", 0.075)),
                                 float(s.get("q_min", self.q_trained[0])), str(s.get("noise", "gaussian")), seeds)
