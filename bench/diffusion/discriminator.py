"""The adversarial loss of the one-step diffusion codecs (CADC stage II, after StableCodec).

Two discriminators, chosen by the config's [discriminator] table:
- `backbone = DIR`: a frozen DINOv2-with-registers (transformers, local folder) whose patch
  tokens from a few layers feed small trainable conv heads (Kumari et al. 2022's
  off-the-shelf-backbone discriminator, the paper's choice);
- no backbone: a small PatchGAN-style conv net (tiny configs: CPU demos and tests).

Hinge losses. The generator's term runs the discriminator with detached parameters
(torch.func.functional_call), so one optimizer can update codec and discriminator in the same
step without the generator's loss pushing the discriminator (simultaneous gradient descent).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BenchError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class PatchDiscriminator(nn.Module):
    def __init__(self, width: int = 32, layers: int = 3):
        super().__init__()
        mods, c = [], 3
        for i in range(layers):
            mods += [nn.Conv2d(c, width * 2 ** i, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c = width * 2 ** i
        self.net = nn.Sequential(*mods, nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x):
        return self.net(2 * x - 1)


class BackboneDiscriminator(nn.Module):
    """Frozen DINOv2 patch tokens of `layers` -> one conv head each (1 logit per patch)."""

    def __init__(self, folder: str, layers=(3, 6, 9, 12), width: int = 64, image_size: int = 224):
        super().__init__()
        import transformers

        from ..weights import weights_dir
        path = Path(folder).expanduser()
        if not path.is_absolute() and not path.exists():         # a name under $BENCH_WEIGHTS_DIR
            path = weights_dir() / folder
        if not (path / "config.json").is_file():
            raise BenchError(f"discriminator backbone not found: {path} has no config.json (a DINOv2-with-registers "
                             "folder, e.g. facebook/dinov2-with-registers-small saved locally); set "
                             "discriminator.backbone=DIR or remove it for the conv discriminator")
        self.backbone = transformers.AutoModel.from_pretrained(str(path), local_files_only=True).float().eval()
        self.backbone.requires_grad_(False)
        self.layers, self.image_size = tuple(int(k) for k in layers), int(image_size)
        hidden = self.backbone.config.hidden_size
        self.heads = nn.ModuleList(nn.Sequential(nn.Conv2d(hidden, width, 1), nn.LeakyReLU(0.2),
                                                 nn.Conv2d(width, 1, 3, padding=1)) for _ in self.layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[None, :, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[None, :, None, None], persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x):
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        out = self.backbone(pixel_values=(x - self.mean) / self.std, output_hidden_states=True)
        side = self.image_size // self.backbone.config.patch_size
        logits = []
        for head, k in zip(self.heads, self.layers):
            tokens = out.hidden_states[k][:, -side * side:]           # patch tokens (after CLS and registers)
            grid = tokens.transpose(1, 2).reshape(x.shape[0], -1, side, side)
            logits.append(head(grid).flatten(1))
        return torch.cat(logits, 1)


def build_discriminator(table: dict) -> nn.Module:
    if table.get("backbone"):
        return BackboneDiscriminator(table["backbone"], table.get("layers", (3, 6, 9, 12)),
                                     int(table.get("width", 64)), int(table.get("image_size", 224)))
    return PatchDiscriminator(int(table.get("width", 32)), int(table.get("layers", 3)))


def hinge_losses(disc: nn.Module, real, fake):
    """(generator loss, discriminator loss). The generator's sees the discriminator's parameters
    detached; the discriminator's sees the fake detached."""
    frozen = {n: p.detach() for n, p in disc.named_parameters()}
    g_loss = -torch.func.functional_call(disc, frozen, (fake,)).mean()
    d_loss = F.relu(1 - disc(real)).mean() + F.relu(1 + disc(fake.detach())).mean()
    return g_loss, d_loss
