"""What every diffusion codec's network shares: a frozen latent autoencoder (not a submodule,
so never in checkpoints), an entropy model coded on the CPU, a denoiser on the run's device,
and training stages that each train one named submodule."""

from __future__ import annotations

from torch import nn

from .entropy import SliceEntropyModel


class LatentCodecModel(nn.Module):
    derived_keys = SliceEntropyModel.DERIVED       # entropy tables, rebuilt by update(), never saved
    autoencoder: object
    entropy: SliceEntropyModel
    denoiser: nn.Module

    def trainable(self, stage: dict):
        """Parameter groups of the stage's module(s) (`trains`: a name or a list); the hyper
        latent's quantiles (CompressAI's auxiliary loss) get their own learning rate
        (lr * aux_lr_factor) and no weight decay."""
        names = [stage["trains"]] if isinstance(stage["trains"], str) else list(stage["trains"])
        params = [(n, p) for name in names for n, p in getattr(self, name).named_parameters()]
        aux = [p for n, p in params if n.endswith("quantiles")]
        main = [p for n, p in params if not n.endswith("quantiles")]
        groups = [{"params": main}]
        if aux:
            groups.append({"params": aux, "weight_decay": 0.0, "lr_factor": float(stage.get("aux_lr_factor", 10.0))})
        return groups

    def train(self, mode: bool = True):
        super().train(mode)
        self.autoencoder.net.eval()
        return self

    def place(self, device: str):
        """Denoiser and autoencoder on the device; the entropy model stays on the CPU in float32,
        so the decoder rebuilds the encoder's Gaussians exactly on any machine."""
        self.entropy.cpu().float().update()
        self.denoiser.to(device)
        self.autoencoder.to(device)
        self.device = device
        return self
