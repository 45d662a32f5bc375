"""The latent diffusion toolkit (bench.diffusion) against its definitions: quantizers, the
entropy model's coding, EDM preconditioning, autoencoder loading, the SDE sampler's identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from bench.diffusion import quantizers as Q
from bench.diffusion.autoencoders import load_autoencoder
from bench.diffusion.denoisers import EDMDenoiser, edm_coefficients
from bench.diffusion.entropy import SliceEntropyModel
from bench.diffusion.samplers import (
    alpha,
    noise_like,
    rate_variable_sde,
    two_step_schedule,
)
from bench.errors import BenchError

from .conftest import KODAK, ROOT

TAESD = ROOT.parent / "shared" / "weights" / "taesd"


def test_scale_quantize_error_is_at_most_half_a_step():
    y = torch.randn(2, 4, 9, 11) * 3
    for q in (0.05, 0.13, 0.7, 1.2):
        y_q = Q.scale_quantize(y, q)
        assert (y_q - y).abs().max() <= q / 2 + 1e-6
        assert torch.allclose(y_q / q, torch.round(y_q / q), atol=1e-4)


def test_universal_quantization_is_integer_steps_from_a_shared_dither():
    y = torch.randn(1, 4, 8, 8)
    step = torch.rand(1, 1, 8, 8) * 0.5 + 0.05          # a per-pixel bin width
    y_hat = Q.universal_quantize(y, step, seed=7)
    u = Q.dither(y.shape, 7) * step
    assert (y_hat - y).abs().max() <= (step / 2).max() + 1e-6
    k = (y_hat - u) / step
    assert torch.allclose(k, torch.round(k), atol=1e-4)
    assert torch.equal(Q.dither((3, 5), 11), Q.dither((3, 5), 11))
    assert not torch.equal(Q.dither((3, 5), 11), Q.dither((3, 5), 12))
    assert Q.dither((1000,), 1).abs().max() <= 0.5


def _entropy_model(cond=1):
    torch.manual_seed(0)
    m = SliceEntropyModel(4, 16, 2, 24, 1, cond_channels=cond).eval()
    m.update()
    return m


def test_entropy_model_round_trip_is_exact_and_bits_fall_as_q_grows():
    m = _entropy_model()
    y = torch.randn(1, 4, 16, 24) * 0.6
    sizes = []
    with torch.no_grad():
        for q in (0.1, 0.3, 0.9, 2.7):
            cond = torch.full((1, 1, 16, 24), math.log(q))
            strings, y_hat = m.compress(y, q, cond)
            assert torch.equal(m.decompress(strings, (16, 24), q, cond), y_hat)
            assert torch.equal(m.quantize(y, q, cond), y_hat)
            assert (y_hat - y).abs().max() <= q / 2 + 1e-5
            sizes.append(sum(len(s) for s in strings[1:]))
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]


def test_entropy_model_needs_its_conditioning():
    m = _entropy_model(cond=2)
    with pytest.raises(ValueError, match="2 conditioning channels"):
        m.compress(torch.zeros(1, 4, 8, 8), 0.5, torch.zeros(1, 1, 8, 8))


def test_edm_preconditioning_is_karras_table_1():
    sigma, sd = torch.tensor([0.01, 0.3, 2.0]), 0.5
    c_skip, c_out, c_in, c_noise = edm_coefficients(sigma, sd)
    assert torch.allclose(c_skip, sd ** 2 / (sigma ** 2 + sd ** 2))
    assert torch.allclose(c_out, sigma * sd / torch.sqrt(sigma ** 2 + sd ** 2))
    assert torch.allclose(c_in, 1 / torch.sqrt(sigma ** 2 + sd ** 2))
    assert torch.allclose(c_noise, torch.log(sigma) / 4)

    class Const(torch.nn.Module):          # F = 1 everywhere: D = c_skip x + c_out
        def forward(self, x, t):
            return type("Out", (), {"sample": torch.ones_like(x)})()
    x = torch.randn(3, 4, 5, 5)
    d = EDMDenoiser(Const(), sd)(x, sigma)
    want = c_skip.view(3, 1, 1, 1) * x + c_out.view(3, 1, 1, 1)
    assert torch.allclose(d, want, atol=1e-6)


class Counting(torch.nn.Module):
    """A stand-in D_theta with a known output, counting its calls."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __call__(self, x, q):
        self.calls.append(q)
        return torch.tanh(x) * 0.9 + 0.01 * q


def test_default_schedule_calls_the_network_exactly_twice_at_every_rate():
    for q0 in (1.2, 0.7, 0.45, 0.13, 0.05):
        net = Counting()
        schedule = two_step_schedule(q0)
        rate_variable_sde(net, torch.randn(1, 4, 6, 6), schedule, beta=0.075, q_min=0.02)
        assert len(net.calls) == 2 and schedule[-1] == 0.0 and schedule[0] == q0
        assert net.calls == schedule[:2]
    assert two_step_schedule(0.7) == [0.7, 0.13, 0.0]
    assert len(two_step_schedule(0.7, steps=5)) == 6
    net, y = Counting(), torch.randn(1, 4, 6, 6)
    assert torch.equal(rate_variable_sde(net, y, two_step_schedule(0.7, steps=0)), y) and not net.calls


def test_deterministic_step_to_zero_returns_the_network_output_exactly():
    x = torch.randn(2, 4, 6, 6)
    net = Counting()
    out = rate_variable_sde(net, x, [0.45, 0.0], beta=0.0)
    assert torch.equal(out, net(x, 0.45))


def test_euler_step_is_eq_11_and_noise_is_alpha_times_eps_minus_score():
    x, q0, q1 = torch.randn(1, 4, 6, 6), 0.7, 0.13
    net = Counting()
    det = rate_variable_sde(net, x, [q0, q1], beta=0.0)
    x0 = net(x, q0)
    assert torch.allclose(det, x + (q0 - q1) / q0 * (x0 - x), atol=1e-6)
    sto = rate_variable_sde(net, x, [q0, q1], beta=0.075, q_min=0.05, seeds=[3])
    eps = noise_like(x, "gaussian", torch.Generator().manual_seed(3))
    assert torch.allclose(sto, det + alpha(q0, 0.075, 0.05) * (eps - (x0 - x) / q0), atol=1e-6)


def test_alpha_vanishes_at_q_min_and_grows_as_the_square_root():
    assert alpha(0.05, 0.075, 0.05) == 0.0
    assert alpha(0.01, 0.075, 0.05) == 0.0
    assert math.isclose(alpha(1.05, 0.075, 0.05), 0.075)


def test_noise_forms_have_unit_variance():
    x = torch.zeros(200_000)
    g = torch.Generator().manual_seed(0)
    gauss, unif = noise_like(x, "gaussian", g), noise_like(x, "uniform", g)
    assert abs(float(gauss.std()) - 1) < 0.01 and abs(float(unif.std()) - 1) < 0.01
    assert float(unif.abs().max()) <= math.sqrt(3)
    with pytest.raises(ValueError, match="gaussian, uniform"):
        noise_like(x, "laplace", g)


@pytest.mark.skipif(not (TAESD / "taesd_encoder.safetensors").exists() or not (KODAK / "kodim01.png").exists(),
                    reason="../shared/weights/taesd or Kodak not here")
def test_taesd_loads_the_real_weights_with_the_readmes_figures():
    ae = load_autoencoder({"kind": "taesd", "path": str(TAESD)})
    assert ae.identity["sha256"]["taesd_encoder.safetensors"].startswith("a6b8c0fd")
    for name, psnr in (("kodim01", 22.15), ("kodim23", 27.71)):
        x = torch.from_numpy(np.array(Image.open(KODAK / f"{name}.png"))).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            lat = ae.encode(x)
            r = (ae.decode(lat) * 255).round() / 255
        if name == "kodim01":
            assert lat.shape == (1, 4, 64, 96) and abs(float(lat.std()) - 0.62) < 0.01
        assert abs(10 * math.log10(1 / float(((r - x) ** 2).mean())) - psnr) < 0.02


def test_sd_layout_loads_from_a_local_pipeline_folder(tmp_path):
    from diffusers import AutoencoderKL
    torch.manual_seed(0)
    AutoencoderKL(block_out_channels=[8, 8], down_block_types=["DownEncoderBlock2D"] * 2,
                  up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, layers_per_block=1,
                  norm_num_groups=4).save_pretrained(tmp_path / "pipe" / "vae")
    ae = load_autoencoder({"kind": "sd", "path": str(tmp_path / "pipe")})
    x = torch.rand(1, 3, 16, 16)
    assert ae.encode(x).shape == (1, 4, 8, 8) and ae.decode(ae.encode(x)).shape == x.shape
    assert set(ae.identity["sha256"]) == {"diffusion_pytorch_model.safetensors"}


def test_a_missing_autoencoder_is_one_message_naming_folder_and_files(tmp_path):
    with pytest.raises(BenchError) as err:
        load_autoencoder({"kind": "sd", "path": str(tmp_path)})
    msg = str(err.value)
    assert str(tmp_path) in msg and "vae/config.json" in msg and "vae/diffusion_pytorch_model.safetensors" in msg
    with pytest.raises(BenchError, match="unknown autoencoder kind 'taesdd'.*did you mean 'taesd'"):
        load_autoencoder({"kind": "taesdd"})


def test_sd_timestep_grid_and_resampling_match_the_papers_examples():
    from bench.diffusion.schedules import (
        alpha_sigma,
        ddim_steps,
        resampled_steps,
        sd_scheduler,
    )
    assert ddim_steps(4) == [61, 41, 21, 1]
    assert resampled_steps(4, 7) == [61, 51, 41, 31, 21, 11, 1]
    assert all(resampled_steps(t, t) == ddim_steps(t) for t in range(1, 12))
    ddim = sd_scheduler("DDIMScheduler")
    ddim.set_timesteps(50)
    assert ddim.timesteps[-4:].tolist() == ddim_steps(4)      # diffusers' own 50-step DDIM grid
    a, s = alpha_sigma(torch.tensor([[1, 61], [999, 21]]))
    assert torch.allclose(a ** 2 + s ** 2, torch.ones(2, 2)) and a[0, 0] > a[0, 1] > a[1, 0]


def _tiny_unets():
    from diffusers import UNet2DConditionModel, UNet2DModel
    torch.manual_seed(0)
    plain = UNet2DModel(in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
                        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                        norm_num_groups=8, attention_head_dim=8)
    cond = UNet2DConditionModel(in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), norm_num_groups=8,
                                cross_attention_dim=16, attention_head_dim=4)
    return [(plain, {}), (cond, {"encoder_hidden_states": torch.randn(2, 3, 16)})]


def test_per_pixel_timestep_unet_equals_the_stock_unet_on_a_constant_map():
    from bench.diffusion.spatial_unet import SpatialTimestepUNet
    x = torch.randn(2, 4, 16, 16)
    for net, kw in _tiny_unets():
        keys = set(net.state_dict())
        with torch.no_grad():
            stock = net(x, torch.tensor([41, 41]), **kw).sample
            spatial = SpatialTimestepUNet(net)
            assert set(spatial.unet.state_dict()) == keys and spatial.patched > 0
            same = spatial(x, torch.full((2, 1, 16, 16), 41.0), **kw).sample
            assert torch.allclose(same, stock, atol=1e-5)
            assert torch.equal(spatial(x, torch.tensor([41, 41]), **kw).sample, stock)
            t_map = torch.full((2, 1, 16, 16), 41.0)
            t_map[:, :, :8] = 981.0                          # the top half much noisier
            mixed = spatial(x, t_map, **kw).sample
            assert not torch.allclose(mixed[..., :8, :], stock[..., :8, :], atol=1e-3)


def test_timestep_maps_code_losslessly_and_training_maps_follow_the_papers_recipe():
    from bench.diffusion.timestep_maps import decode_map, encode_map, random_map
    rng = np.random.default_rng(0)
    maps = [random_map(24, 40, rng, 1, 50) for _ in range(400)]
    constant = [m for m in maps if m.min() == m.max()]
    assert 0.10 < len(constant) / len(maps) < 0.25          # p = 0.15 (grids/cells may also come out constant)
    assert sum(len(np.unique(m)) > 2 for m in maps) > 100
    for m in maps[:50]:
        data = encode_map(m)
        assert np.array_equal(decode_map(data, m.shape), m) and m.min() >= 1 and m.max() <= 50
    assert len(encode_map(np.full((64, 96), 7))) == 2
    two = np.full((64, 96), 50)
    two[10:30, 20:60] = 4
    assert len(encode_map(two)) < 100                       # a two-region map costs tens of bytes, not 6 KB
    with pytest.raises(ValueError):
        encode_map(np.full((2, 2), 300))
