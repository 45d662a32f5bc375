"""PSNR and MS-SSIM against values computed by hand / by an independent implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate1d

from bench.metrics.msssim import MSSSIM
from bench.metrics.psnr import PSNR


def t(arr):
    return torch.from_numpy(np.asarray(arr, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def test_psnr_constant_offset_by_hand():
    ref = np.full((16, 16, 3), 100, np.uint8)
    dist = np.full((16, 16, 3), 110, np.uint8)          # MSE = 100 exactly
    assert PSNR()(t(ref), t(dist)).item() == pytest.approx(10 * math.log10(255 ** 2 / 100), abs=1e-9)


def test_psnr_mixed_errors_by_hand():
    ref = np.zeros((2, 2, 3), np.uint8)
    dist = ref.copy()
    dist[0, 0, 0] = 12          # squared errors: 144 + 25 over 12 values
    dist[1, 1, 2] = 5
    mse = (144 + 25) / 12
    assert PSNR()(t(ref), t(dist)).item() == pytest.approx(10 * math.log10(65025 / mse), abs=1e-9)


def test_masked_psnr_uses_only_mask_pixels():
    ref = np.zeros((4, 4, 3), np.uint8)
    dist = ref.copy()
    dist[:2] = 10               # top half MSE 100, bottom half exact
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    m = PSNR()
    assert m(t(ref), t(dist), mask).item() == pytest.approx(10 * math.log10(65025 / 100), abs=1e-9)
    assert m(t(ref), t(dist), 1 - mask).item() == math.inf
    # soft weights: MSE = (0.5 * 100 * 8 + 0 ) / (0.5 * 8 + 1 * 8) per channel
    soft = torch.where(mask > 0, 0.5, 1.0)
    want = 0.5 * 100 * 8 / (0.5 * 8 + 8)
    assert m(t(ref), t(dist), soft).item() == pytest.approx(10 * math.log10(65025 / want), abs=1e-9)
    assert m(t(ref), t(dist), torch.ones(1, 1, 4, 4)).item() == m(t(ref), t(dist)).item()


def _ms_ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2003 MS-SSIM written from the paper: 11-tap Gaussian (sigma 1.5), valid
    filtering, K1=0.01, K2=0.03, 2x2 average pooling, weights from the paper, contrast-structure
    at scales 1-4 and full SSIM at scale 5, channels averaged at each scale."""
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(a):
        a = correlate1d(a, g, axis=0, mode="constant")[5:-5]
        return correlate1d(a, g, axis=1, mode="constant")[:, 5:-5]

    def stats(a, b):
        mu_a, mu_b = blur(a), blur(b)
        saa = blur(a * a) - mu_a ** 2
        sbb = blur(b * b) - mu_b ** 2
        sab = blur(a * b) - mu_a * mu_b
        cs = (2 * sab + c2) / (saa + sbb + c2)
        lum = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
        return (lum * cs).mean(), cs.mean()

    xs = [x[..., c].astype(np.float64) / 255 for c in range(3)]
    ys = [y[..., c].astype(np.float64) / 255 for c in range(3)]
    result = 1.0
    for level, w in enumerate(weights):
        s = [stats(a, b) for a, b in zip(xs, ys)]
        val = np.mean([v[0] if level == 4 else v[1] for v in s], axis=0)
        result *= max(val, 0) ** w
        xs = [a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2].reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean((1, 3)) for a in xs]
        ys = [a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2].reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean((1, 3)) for a in ys]
    return float(result)


def test_ms_ssim_matches_an_independent_implementation():
    from .conftest import smooth_image
    ref = smooth_image(1, 192, 200)
    rng = np.random.default_rng(0)
    dist = np.clip(ref.astype(np.int16) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
    got = MSSSIM()(t(ref), t(dist)).item()
    want = _ms_ssim_reference(ref, dist)
    assert 0.5 < want < 0.999
    assert got == pytest.approx(want, abs=2e-5)
    assert MSSSIM()(t(ref), t(ref)).item() == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_too_small_image_is_a_clear_error():
    from bench.errors import BenchError
    img = np.zeros((100, 120, 3), np.uint8)
    with pytest.raises(BenchError, match="at least 161px"):
        MSSSIM()(t(img), t(img))


@pytest.mark.parametrize("shape", [(2, 3, 192, 256), (1, 3, 171, 233)])     # even and odd sizes
def test_ms_ssim_equals_pytorch_msssim_as_compressai_calls_it(shape):
    from pytorch_msssim import ms_ssim
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(shape, generator=g)
    dist = (ref + 0.08 * torch.randn(shape, generator=g)).clamp(0, 1)
    want = ms_ssim(ref, dist, data_range=1.0, size_average=False)
    assert torch.allclose(MSSSIM()(ref, dist), want, atol=1e-5, rtol=0)   # float32 summation order only
