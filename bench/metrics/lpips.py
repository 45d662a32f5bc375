"""LPIPS v0.1 (AlexNet, the field's default; and VGG16), full image and ROI-masked.

The network is the `lpips` library's own module; its trunk is filled from verified
torchvision weights (bench weights: the library would download them from torch hub) and its
linear layers from the verified v0.1 file. The distance is computed from the library's
layers so that the per-layer maps are available for masked averaging (see _masks.py).

Everything after the trunk is pointwise per feature position, so images above _tiles.TILE_ABOVE
pixels are run tile by tile (each with a halo covering the receptive field) and the per-layer
1-channel distance maps stitched from the positions each tile owns: the same maps as a whole-image
pass, up to float32 summation order, with memory bounded by the tile size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from math import isqrt
from typing import ClassVar

import torch

from .. import weights as W
from . import _tiles
from ._masks import cell_weights, check_mask, weighted_mean
from ._pair_cache import LastPair, LastReference
from ._weighted import WeightedNetwork
from .base import Metric, register_metric, unit_float


def _lpips_module(trunk: str, trunk_weights: str, lin_weights: str) -> torch.nn.Module:
    """lpips.LPIPS with every parameter taken from verified weights (strict load)."""
    import warnings

    import lpips

    with warnings.catch_warnings():      # lpips passes torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=False, net=trunk, version="0.1", pnet_rand=True, verbose=False)
    trunk_sd = W.load_state_dict(W.resolve(trunk_weights))
    lin_sd = W.load_state_dict(W.resolve(lin_weights))
    state = {}
    for key, own in model.state_dict().items():
        if key.startswith("net."):          # net.slice<k>.<torchvision index>.<param>
            _, _, idx, param = key.split(".")
            state[key] = trunk_sd[f"features.{idx}.{param}"]
        elif key.startswith("lins."):       # lpips registers lin<k> also as lins.<k>
            _, k, rest = key.split(".", 2)
            state[key] = lin_sd[f"lin{k}.{rest}"]
        elif key.startswith("lin"):
            state[key] = lin_sd[key]
        else:                               # the scaling layer's fixed constants
            state[key] = own
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)


@dataclass(frozen=True)
class _Geometry:
    """Layer arithmetic of a trunk, from its conv/pool layers: per output layer, the stride and the
    (kernel, stride, padding) chain giving its map size; the halo a tile needs so that every
    feature it owns sees only real pixels (AlexNet 96, VGG16 112 px), and the alignment keeping
    tile origins on every layer's grid (16 for both)."""
    strides: tuple[int, ...]
    chains: tuple[tuple[tuple[int, int, int], ...], ...]
    halo: int
    align: int

    def size(self, n: int, layer: int) -> int:
        for k, s, p in self.chains[layer]:
            n = (n + 2 * p - k) // s + 1       # floor, as conv and max-pool (ceil_mode=False)
        return n


def _geometry(net: torch.nn.Module) -> _Geometry:
    def one(v) -> int:
        v = (v, v) if isinstance(v, int) else tuple(v)
        assert v[0] == v[1], "square kernels/strides/padding only"
        return v[0]

    chain, chains, strides, extent = [], [], [], 0
    stride, lo, hi = 1, 0, 1      # feature i sees input pixels [i * stride + lo, i * stride + hi)
    for k in range(1, net.N_slices + 1):
        for mod in getattr(net, f"slice{k}"):
            if isinstance(mod, torch.nn.ReLU):
                continue
            if not isinstance(mod, (torch.nn.Conv2d, torch.nn.MaxPool2d)) or one(mod.dilation) != 1 \
                    or getattr(mod, "ceil_mode", False):
                raise TypeError(f"LPIPS tiling: unsupported trunk layer {mod}")
            kk, s, p = one(mod.kernel_size), one(mod.stride), one(mod.padding)
            lo, hi = lo - p * stride, hi + (kk - 1 - p) * stride
            stride *= s
            chain.append((kk, s, p))
        chains.append(tuple(chain))
        strides.append(stride)
        # an owned feature has a <= i * stride < b: its pixels lie within [a + lo, b - 1 + hi)
        extent = max(extent, -lo, hi - 1)
    align = max(strides)
    assert all(align % s == 0 for s in strides)
    return _Geometry(tuple(strides), tuple(chains), -(-extent // align) * align, align)


class _LPIPSBase(WeightedNetwork, Metric):
    libraries = ("lpips", "torch", "torchvision")
    packages = (("lpips", "lpips"),)
    trunk: ClassVar[str]
    kind = "full-reference"
    higher_is_better = False
    supports_mask = True
    value_range = (0.0, float("inf"))
    input_dtype = "uint8"       # converted here: per tile for large images (a float pair would be 576 MB)
    mask_note = ("masked: the LPIPS distance map averaged with the mask as weights (each layer's map "
                 "spread over the pixels it covers; ROI and background average back to the full value)")

    def __init__(self, device: str = "cpu"):
        super().__init__(device)
        self.model = _lpips_module(self.trunk, *self.weights).to(device)
        self._maps = LastPair()
        self._ref = LastReference()            # normalized reference features (untiled images)
        self._large: tuple | None = None       # (digests of the last large pair, its maps)
        self.geometry = _geometry(self.model.net)
        self.tile_core: int | None = None     # tile size in pixels; None: from _tiles.TILE_BYTES

    def layer_maps(self, ref: torch.Tensor, dist: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer distance maps (Bx1xhxw), reused for the next call with the same pair."""
        if not _tiles.is_large(*ref.shape[-2:]):
            ref, dist = unit_float(ref), unit_float(dist)
            return self._maps.get(ref, dist, lambda: self._layer_maps(ref, dist))
        # large images: key the reuse on content digests (~0.2 s per 288 MB) rather than on clones
        # of the pair as LastPair does, which would double the inputs' memory
        key = tuple((t.shape, t.dtype, hashlib.sha256(memoryview(t.detach().contiguous().cpu().numpy()).cast("B"))
                     .digest()) for t in (ref, dist))
        if self._large is None or self._large[0] != key:
            self._large = None      # free the old maps first
            self._large = (key, self._layer_maps(ref, dist))
        return self._large[1]

    def _layer_maps(self, ref: torch.Tensor, dist: torch.Tensor, core: int | None = None) -> list[torch.Tensor]:
        """Whole-image maps, or tiled ones for a large image (or when a tile `core` is given)."""
        h, w = ref.shape[-2:]
        if core is None and not _tiles.is_large(h, w):
            return self._trunk_maps(ref, dist, reuse_ref=True)
        return self._tiled_maps(ref, dist, core or self.tile_core or self._default_core(ref.shape[0]))

    def _default_core(self, batch: int) -> int:
        """Tile side whose crop (core + halos) fits TILE_BYTES at the measured bytes per pixel."""
        side = isqrt(int(_tiles.TILE_BYTES / (self.bytes_per_pixel * batch)))
        return max(4 * self.geometry.align, side - 2 * self.geometry.halo)

    def _tiled_maps(self, ref: torch.Tensor, dist: torch.Tensor, core: int) -> list[torch.Tensor]:
        g = self.geometry
        b, _, h, w = ref.shape
        full = [ref.new_zeros(b, 1, g.size(h, k), g.size(w, k), dtype=torch.float32) for k in range(len(g.strides))]
        rows, cols = (_tiles.tiles(n, core, g.align, g.halo) for n in (h, w))
        for y0, y1, cy0, cy1 in rows:
            for x0, x1, cx0, cx1 in cols:
                maps = self._trunk_maps(unit_float(ref[..., cy0:cy1, cx0:cx1]),
                                        unit_float(dist[..., cy0:cy1, cx0:cx1]))
                for d, out, s in zip(maps, full, g.strides):
                    i0, i1 = _tiles.owned(y0, y1, h, s, out.shape[-2])
                    j0, j1 = _tiles.owned(x0, x1, w, s, out.shape[-1])
                    oy, ox = cy0 // s, cx0 // s          # crop origins are multiples of every stride
                    out[..., i0:i1, j0:j1] = d[..., i0 - oy:i1 - oy, j0 - ox:j1 - ox]
        _tiles.release_freed_memory()
        return full

    def _trunk_maps(self, ref: torch.Tensor, dist: torch.Tensor, reuse_ref: bool = False) -> list[torch.Tensor]:
        import lpips
        m = self.model
        def features(x):
            return [lpips.normalize_tensor(f) for f in m.net(m.scaling_layer(unit_float(x) * 2 - 1))]

        with torch.no_grad():
            f0 = self._ref.get(ref, lambda: features(ref)) if reuse_ref else features(ref)
            f1 = features(dist)
            return [m.lins[k]((f0[k] - f1[k]) ** 2) for k in range(m.L)]

    def __call__(self, ref, dist, mask=None):
        maps = self.layer_maps(ref, dist)
        if mask is None:
            return sum(d.mean((2, 3)) for d in maps).reshape(-1)
        check_mask(mask, ref)
        total = sum(weighted_mean(d, cell_weights(mask, d.shape[-2:])) for d in maps)
        return total.reshape(-1).float()


@register_metric
class LPIPSAlex(_LPIPSBase):
    name = "lpips"
    trunk = "alex"
    label = "LPIPS (AlexNet, v0.1)"
    weights = ("alexnet", "lpips-alex-v0.1")
    bytes_per_pixel = 170.0   # measured 159-171 (scripts/metric_memory.py --bpp, 1024x1024 float32 pair)


@register_metric
class LPIPSVGG(_LPIPSBase):
    name = "lpips-vgg"
    trunk = "vgg"
    label = "LPIPS (VGG16, v0.1)"
    weights = ("vgg16", "lpips-vgg-v0.1")
    bytes_per_pixel = 1810.0  # measured 1810-1835 (scripts/metric_memory.py --bpp): 64-channel full-res layers
