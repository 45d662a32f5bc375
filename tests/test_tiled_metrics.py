"""Large images are metric-ed in bands/tiles: the values must equal the whole-image computation.

Tiling starts above _tiles.TILE_ABOVE pixels; the tests force it on small images (threshold 0,
small bands/tiles) so that every image has many pieces, partial ones at the right/bottom included.
"""

from __future__ import annotations

import math

import pytest
import torch

from bench.metrics import _tiles
from bench.metrics.lpips import LPIPSVGG, LPIPSAlex
from bench.metrics.msssim import MSSSIM, ms_ssim
from bench.metrics.psnr import PSNR, masked_mse_255, psnr_from_mse


def noisy_pair(shape, seed=0, amount=0.1):
    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(shape, generator=g)
    ref = torch.nn.functional.avg_pool2d(ref, 5, stride=1, padding=2)    # some structure
    dist = (ref + amount * torch.randn(shape, generator=g)).clamp(0, 1)
    return (ref * 255).round() / 255, (dist * 255).round() / 255


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 530, 700])
@pytest.mark.parametrize("core", [16, 50, 128])
def test_tile_and_ownership_geometry(n, core):
    pieces = _tiles.tiles(n, core, align=16, halo=90)
    assert [p[0] for p in pieces][1:] == [p[1] for p in pieces][:-1] and pieces[0][0] == 0 and pieces[-1][1] == n
    for a, b, ca, cb in pieces:
        assert a % 16 == 0 and ca % 16 == 0                      # every layer's grid stays aligned
        assert ca == max(0, a - 96) and cb == min(n, b + 96)     # halo rounded up to the alignment
    for stride in (1, 4, 16):
        for size in {n // stride, -(-n // stride)} - {0}:        # floor- and ceil-sized maps
            owned = [i for a, b, *_ in pieces for i in range(*_tiles.owned(a, b, n, stride, size))]
            assert owned == list(range(size))
    assert _tiles.bands(10, 4) == [(0, 4), (4, 8), (8, 10)]


# --- PSNR --------------------------------------------------------------------------------

def psnr_before(ref, dist, mask=None):
    """The pre-tiling formula, on [0, 1] float input."""
    diff2 = ((ref.double() * 255.0).round() - (dist.double() * 255.0).round()) ** 2
    if mask is None:
        return psnr_from_mse(diff2.mean(dim=(1, 2, 3)))
    w = mask.double().expand_as(diff2)
    return psnr_from_mse((diff2 * w).sum(dim=(1, 2, 3)) / w.sum(dim=(1, 2, 3)))


def test_psnr_uint8_and_float_in_bands_equal_the_whole_image_formula():
    assert PSNR.input_dtype == "uint8"
    ref, dist = noisy_pair((2, 3, 37, 53))
    ref8, dist8 = (ref * 255).round().to(torch.uint8), (dist * 255).round().to(torch.uint8)
    mask = torch.rand(2, 1, 37, 53, generator=torch.Generator().manual_seed(1))
    for m in (None, mask):
        want = psnr_before(ref, dist, m)
        assert torch.isfinite(want).all()
        for band_elems in (1000, 1 << 18):       # 3 rows per band (13 bands, the last partial), one band
            for r, d in ((ref8, dist8), (ref, dist), (ref8, dist)):
                got = psnr_from_mse(masked_mse_255(r, d, m, band_elems=band_elems))
                torch.testing.assert_close(got, want, atol=1e-9, rtol=0)
                if m is None:                    # integer sums: exactly the same number
                    assert torch.equal(got, want)
    assert PSNR()(ref8, dist8).shape == (2,)
    assert PSNR()(ref8, ref8.clone()).tolist() == [math.inf, math.inf]


# --- MS-SSIM -----------------------------------------------------------------------------

def test_ms_ssim_in_bands_equals_the_whole_image(monkeypatch):
    ref, dist = noisy_pair((2, 3, 300, 261))
    whole = ms_ssim(ref, dist)
    torch.testing.assert_close(ms_ssim(ref, dist, band_rows=37), whole, atol=1e-6, rtol=0)   # 8 bands at scale 1
    assert torch.equal(MSSSIM()(ref, dist), whole)           # below the threshold: the whole-image code
    monkeypatch.setattr(_tiles, "TILE_ABOVE", 0)
    monkeypatch.setattr(_tiles, "BAND_ELEMS", 2 * 15 * 261 * 50)   # 50 rows per band
    torch.testing.assert_close(MSSSIM()(ref, dist), whole, atol=1e-6, rtol=0)


# --- LPIPS -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alex():
    return LPIPSAlex("cpu")


def tiled_equals_whole(metric, monkeypatch, shape, core):
    """Maps (elementwise) and values (mask None and a random soft mask) of the tiled path equal the
    whole-image path's; returns the pair and mask."""
    ref, dist = noisy_pair(shape)
    mask = torch.rand(shape[0], 1, *shape[2:], generator=torch.Generator().manual_seed(2))
    with monkeypatch.context() as mp:
        mp.setattr(metric, "_tiled_maps", lambda *a: pytest.fail("small image tiled"))
        whole = [metric(ref, dist, m) for m in (None, mask)]
        whole_maps = metric.layer_maps(ref, dist)
    monkeypatch.setattr(_tiles, "TILE_ABOVE", 0)
    monkeypatch.setattr(metric, "tile_core", core)
    tiled = [metric(ref, dist, m) for m in (None, mask)]
    for a, b in zip(metric.layer_maps(ref, dist), whole_maps):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(tiled, whole):
        assert a.shape == (shape[0],)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    return ref, dist, mask


def test_lpips_alex_tiled_equals_whole_and_reuses_one_pass_per_pair(alex, monkeypatch):
    g = alex.geometry
    assert (g.strides, g.halo, g.align) == ((4, 8, 16, 16, 16), 96, 16)
    passes = []
    handle = alex.model.net.register_forward_hook(lambda *_: passes.append(1))
    try:
        ref, dist, _ = tiled_equals_whole(alex, monkeypatch, (2, 3, 530, 700), core=128)   # 5 x 6 tiles
        # the tiled maps ran once for the pair (2 trunk passes per tile), the masked call reused them
        assert len(passes) == 2 + 2 * 5 * 6
        first = float(alex(ref, dist)[0])                       # still the same pair: no pass
        ref1, dist1 = ref[:1], dist[:1]                         # a new pair is computed anew
        assert float(alex(ref1, dist1)) == pytest.approx(first, abs=1e-6)
        assert len(passes) == 2 + 4 * 5 * 6
    finally:
        handle.remove()
    # the halo is no larger than needed: one alignment step less changes the deepest layer's map
    whole = alex._trunk_maps(ref1, dist1)
    monkeypatch.setattr(alex, "geometry", type(g)(g.strides, g.chains, g.halo - 16, g.align))
    short = alex._layer_maps(ref1, dist1, core=128)
    assert (short[-1] - whole[-1]).abs().max() > 1e-4


def test_lpips_vgg_tiled_equals_whole(monkeypatch):
    vgg = LPIPSVGG("cpu")
    g = vgg.geometry
    assert (g.strides, g.halo, g.align) == ((1, 2, 4, 8, 16), 112, 16)
    tiled_equals_whole(vgg, monkeypatch, (1, 3, 80, 272), core=64)     # 2 x 5 tiles (VGG is slow on CPU)


def test_default_tile_fits_the_budget(alex):
    side = alex._default_core(batch=1) + 2 * alex.geometry.halo
    assert side * side * alex.bytes_per_pixel <= _tiles.TILE_BYTES
    assert alex._default_core(batch=1) > 2 * alex._default_core(batch=4) > 0


def test_lpips_reference_features_run_once_per_reference(alex):
    """Rate points of one image arrive in a row: the reference half of the trunk runs once."""
    gen = torch.Generator().manual_seed(5)
    ref = torch.rand(1, 3, 64, 96, generator=gen)
    dists = [(ref + s * torch.randn(ref.shape, generator=gen)).clamp(0, 1) for s in (0.02, 0.05, 0.1)]
    passes = []
    handle = alex.model.net.register_forward_hook(lambda *_: passes.append(1))
    try:
        values = [float(alex(ref, d)) for d in dists]
        assert len(passes) == 1 + 3
        fresh = [float(sum(m.mean((2, 3)) for m in alex._trunk_maps(ref, d)).reshape(-1)) for d in dists]
        assert len(passes) == 4 + 6                                    # no reuse asked: both halves
    finally:
        handle.remove()
    assert values == fresh and values[0] < values[1] < values[2]
