"""Per-pixel timestep conditioning for diffusers' U-Nets (the region-adaptive codec's
"spatial t"): a timestep map instead of one timestep per image.

The paper replaces every linear timestep-embedding layer with a 1x1 convolution initialised
from the linear weights, average-pooled to each block's resolution. A 1x1 convolution with a
linear layer's weights is that linear layer applied at every pixel, so here the U-Net keeps
its own modules and parameters (a pretrained scalar-t U-Net loads unchanged, and the state
dict is the stock one) and only the forward pass changes:
- the sinusoidal projection and the TimestepEmbedding MLP run at every pixel of the map;
- each ResnetBlock2D pools the embedding map to its feature resolution and applies its own
  time_emb_proj at every pixel (diffusers' block only takes a vector per image, so its
  forward is restated for a map below).
With a constant map the output equals the stock U-Net's with that scalar timestep.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _resnet_forward_with_map(block, input_tensor: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
    """diffusers' ResnetBlock2D.forward (0.42) for an embedding map BxCxHxW."""
    hidden = block.nonlinearity(block.norm1(input_tensor))
    if block.upsample is not None:
        input_tensor, hidden = block.upsample(input_tensor), block.upsample(hidden)
    elif block.downsample is not None:
        input_tensor, hidden = block.downsample(input_tensor), block.downsample(hidden)
    hidden = block.conv1(hidden)
    emb = F.adaptive_avg_pool2d(temb, hidden.shape[-2:])
    if not block.skip_time_act:
        emb = block.nonlinearity(emb)
    emb = block.time_emb_proj(emb.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    if block.time_embedding_norm == "default":
        hidden = block.norm2(hidden + emb)
    elif block.time_embedding_norm == "scale_shift":
        scale, shift = emb.chunk(2, dim=1)
        hidden = block.norm2(hidden) * (1 + scale) + shift
    else:
        hidden = block.norm2(hidden)
    hidden = block.conv2(block.dropout(block.nonlinearity(hidden)))
    if block.conv_shortcut is not None:
        input_tensor = block.conv_shortcut(input_tensor)
    return (input_tensor + hidden) / block.output_scale_factor


def _patch_resnets(unet: nn.Module) -> int:
    from diffusers.models.resnet import ResnetBlock2D
    count = 0
    for module in unet.modules():
        if isinstance(module, ResnetBlock2D) and module.time_emb_proj is not None:
            stock = module.forward

            def forward(input_tensor, temb, *args, _stock=stock, _block=module, **kwargs):
                if temb is not None and temb.dim() == 4:
                    return _resnet_forward_with_map(_block, input_tensor, temb)
                return _stock(input_tensor, temb, *args, **kwargs)
            module.forward = forward
            count += 1
    return count


class SpatialTimestepUNet(nn.Module):
    """unet(sample, t) with t a number, a vector (B) or a map (Bx1xHxW at the sample's size)."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet
        self.patched = _patch_resnets(unet)
        self._map = None
        unet.time_embedding.register_forward_hook(self._use_map)

    def _use_map(self, module, inputs, output):
        return output if self._map is None else self._map

    def embed(self, t_map: torch.Tensor) -> torch.Tensor:
        """The TimestepEmbedding of every pixel: Bx1xHxW -> BxCxHxW."""
        b, _, h, w = t_map.shape
        proj = self.unet.time_proj(t_map.reshape(-1)).to(self.unet.dtype)
        emb = self.unet.time_embedding(proj)          # the hook is off here (self._map is None)
        return emb.reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def forward(self, sample: torch.Tensor, t, **kwargs):
        t = torch.as_tensor(t, device=sample.device)
        if t.dim() < 4:
            return self.unet(sample, t, **kwargs)
        if t.shape[-2:] != sample.shape[-2:]:
            raise ValueError(f"timestep map {tuple(t.shape)} does not match the sample {tuple(sample.shape)}")
        self._map = self.embed(t.float())
        try:
            return self.unet(sample, torch.zeros(sample.shape[0], device=sample.device), **kwargs)
        finally:
            self._map = None
