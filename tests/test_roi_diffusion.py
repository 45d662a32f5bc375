"""The region-adaptive diffusion codec and its UDDQ baselines: the paper's identities (eq. 6,
timestep resampling, scalar DDIM on constant maps), bitstreams, bit allocation, training, and
the paper config's SD 2.1 folder layout. Random weights throughout, said as such."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import tomllib
import torch

from bench.codec import make_codec
from bench.codec.verify_decode import verify_in_fresh_process
from bench.errors import BenchError
from bench.image import pixel_sha256
from bench.learned import unpack

from .conftest import ROOT, smooth_image

CONFIGS = ROOT / "codecs" / "roi_diffusion" / "configs"


def _small(path: Path, out: Path) -> Path:
    """A config with the random `tiny` autoencoder and small crops: seconds, not minutes."""
    cfg = tomllib.loads(path.read_text())
    cfg["autoencoder"] = {"kind": "tiny"}
    cfg["train"]["save_every"] = 2
    for stage in cfg["train"]["stages"]:
        stage.update(batch=2, crop=32)
    out.write_text(tomli_w.dumps(cfg))
    return out


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cfg")
    return {"roi-diffusion": _small(CONFIGS / "tiny.toml", folder / "roi.toml"),
            "uddq": _small(CONFIGS / "uddq" / "tiny.toml", folder / "uddq.toml")}


def _codec(configs, name="roi-diffusion", **opts):
    spec = ",".join([f"pretrained=false,config={configs[name]}"] + [f"{k}={v}" for k, v in opts.items()])
    c = make_codec(f"{name}:{spec}")
    c.load("cpu")
    return c


def _box_mask(h, w):
    m = np.zeros((h, w))
    m[h // 4: 3 * h // 4, w // 4: w // 2] = 1.0
    return m


class CountingV:
    """predict_v wrapped to count network evaluations and record their timestep maps."""

    def __init__(self, fn):
        self.fn, self.steps = fn, []

    def __call__(self, x, s):
        self.steps.append(torch.as_tensor(s).clone())
        return self.fn(x, s)


# --- the paper's identities ------------------------------------------------------------------
def test_resampling_runs_every_region_in_max_t_steps_and_they_finish_together():
    from bench.diffusion.schedules import resampled_step_maps
    t = torch.full((1, 1, 4, 6), 7)
    t[..., :2, :3] = 4                                  # fig. 3a: a t = 4 region inside t = 7
    maps = resampled_step_maps(t)
    assert len(maps) == 7
    assert [int(m[0, 0, 0, 0]) for m in maps] == [61, 51, 41, 31, 21, 11, 1]     # appendix B's example
    assert [int(m[0, 0, 3, 5]) for m in maps] == [121, 101, 81, 61, 41, 21, 1]
    assert bool((maps[-1] == 1).all())


def _model(c):
    return c.model(5).net


def test_eq6_quantization_identities(configs):
    from bench.diffusion.schedules import alpha_sigma, bin_width, ddpm_step
    c = _codec(configs)
    net = _model(c)
    x = torch.from_numpy(smooth_image(0, 64, 96)).permute(2, 0, 1)[None].float() / 255
    t_map = np.full((16, 24), 20)
    t_map[4:12, 6:12] = 3
    y_t = net.quantized_latent(x, t_map, seed=7)
    y0 = net.autoencoder.encode(x)
    steps = ddpm_step(torch.from_numpy(t_map))[None, None]
    a, delta = alpha_sigma(steps)[0], bin_width(steps)
    assert torch.allclose(delta, (12 * (1 - a ** 2)).sqrt())            # Delta_t = sqrt(12 sigma_t^2)
    assert bool(((y_t - a * y0).abs() <= delta / 2 + 1e-5).all())
    from bench.diffusion.quantizers import dither
    u = dither(y_t.shape, 7) * delta
    k = (y_t - u) / delta
    assert torch.allclose(k, k.round(), atol=1e-4)
    # what the entropy coder transmits is exactly this latent: the decoder rebuilds it from the bytes
    (streams,) = net.compress(x, [t_map], 7)
    _, _, step, offset = net._quantizer(t_map, 4, 7)
    rebuilt = net.entropy.decompress(streams[1:], (16, 24), step, net.cond(step), offset)
    assert torch.equal(rebuilt, y_t)


def test_sampler_on_a_constant_map_is_diffusers_scalar_ddim():
    from diffusers import DDIMScheduler, UNet2DModel

    from bench.diffusion.samplers import spatial_ddim
    from bench.diffusion.schedules import resampled_step_maps
    from bench.diffusion.spatial_unet import SpatialTimestepUNet
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       layers_per_block=1, norm_num_groups=8).eval()
    spatial = SpatialTimestepUNet(unet)
    y = torch.randn(1, 4, 8, 8)
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                          beta_end=0.012, steps_offset=1, prediction_type="v_prediction", clip_sample=False,
                          set_alpha_to_one=True)
    sched.set_timesteps(50)
    calls = CountingV(lambda x, s: spatial(x, s).sample)
    with torch.no_grad():
        ours = spatial_ddim(calls, y, [m.float() for m in resampled_step_maps(torch.full((1, 1, 8, 8), 4))])
        ref = y
        for t in sched.timesteps[-4:]:
            assert int(t) in (61, 41, 21, 1)
            ref = sched.step(unet(ref, t).sample, t, ref).prev_sample
    assert len(calls.steps) == 4
    assert torch.allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("sampler,evaluations", [("resample", 9), ("repaint", 9), ("ddim-roi", 3), ("ddim-bg", 9)])
def test_the_network_runs_exactly_max_t_times(configs, sampler, evaluations):
    net = _model(_codec(configs))
    t = torch.full((1, 1, 8, 12), 9)
    t[..., 2:6, 3:8] = 3
    calls = CountingV(net.predict_v)
    net.predict_v = calls
    with torch.no_grad():
        out = net.reverse(torch.randn(1, 4, 8, 12), t, sampler, seed=1)
    assert len(calls.steps) == evaluations and out.shape == (1, 4, 8, 12)
    first = torch.as_tensor(calls.steps[0]).expand(1, 1, 8, 12)
    if sampler == "resample":                 # each region starts at its own level
        assert int(first[0, 0, 3, 4]) == 41 and int(first[0, 0, 0, 0]) == 161
    else:                                     # spatially uniform samplers: one level at a time
        assert bool((first == first.flatten()[0]).all())


# --- bitstreams ---------------------------------------------------------------------------------
def test_the_map_travels_in_its_own_counted_stream_and_decodes_bit_exactly_in_a_fresh_process(configs, tmp_path):
    from bench.diffusion.timestep_maps import decode_map
    c = _codec(configs, bg_t=30)
    im = smooth_image(2, 75, 101)                                      # odd size: padded to 80x112
    mask = _box_mask(75, 101)
    data = c.encode(im, 4, roi=mask)
    box = unpack(data, "roi-diffusion")
    t_map = decode_map(box.streams[0], (20, 28))
    assert set(np.unique(t_map)) <= set(range(4, 31)) and t_map[9, 9] == 4 and t_map[0, 0] == 30
    assert len(data) >= sum(len(s) for s in box.streams)               # bpp counts the map's bytes
    out = c.decode(data)
    assert out.shape == im.shape and np.array_equal(out, c.decode(data))
    (tmp_path / "b.bnc").write_bytes(data)
    spec = f"roi-diffusion:pretrained=false,config={configs['roi-diffusion']},bg_t=30"
    assert verify_in_fresh_process(spec, tmp_path / "b.bnc", pixel_sha256(out)) is None
    plain = unpack(c.encode(im, 4), "roi-diffusion")                  # no mask: a constant map, 2 bytes
    assert plain.streams[0] == bytes([0, 4])


def test_dithered_coding_reaches_the_models_information_content(configs):
    """constriction codes each symbol under its exact fractional mean: the slices' bytes are
    within a few bytes of -log2 p summed over the latent."""
    c = _codec(configs)
    net = _model(c)
    x = torch.from_numpy(smooth_image(3, 128, 192)).permute(2, 0, 1)[None].float() / 255
    t_map = np.full((32, 48), 6)
    (streams,) = net.compress(x, [t_map], 0)
    bits, _ = net.information(x, t_map, 0)
    coded = 8 * sum(len(s) for s in streams[2:])
    assert float(bits.sum()) <= coded <= float(bits.sum()) * 1.02 + 64 * net.entropy.slices


def test_roi_latents_get_more_bits_per_latent_pixel_than_background_ones(configs):
    c = _codec(configs)
    net = _model(c)
    x = torch.from_numpy(smooth_image(4, 128, 192)).permute(2, 0, 1)[None].float() / 255
    mask = _box_mask(128, 192)
    t_map = c.timestep_map(mask, 4, (32, 48), 4)
    assert t_map.min() == 4 and t_map.max() == 16                      # bg_factor 4
    bits, _ = net.information(x, t_map, 0)
    per_pixel = bits.sum(1)[0]
    roi, bg = torch.from_numpy(t_map == 4), torch.from_numpy(t_map == 16)
    assert float(per_pixel[roi].mean()) > 2 * float(per_pixel[bg].mean())


def test_t_grows_bits_fall_and_the_ablation_drops_the_timestep_context(configs):
    c = _codec(configs)
    im = smooth_image(5, 64, 96)
    sizes = [len(c.encode(im, t)) for t in (2, 6, 20)]
    assert sizes[0] > sizes[1] > sizes[2]
    ablation = tomllib.loads(configs["roi-diffusion"].read_text())
    ablation["entropy"]["t_conditioning"] = False
    path = configs["roi-diffusion"].with_name("ablation.toml")
    path.write_text(tomli_w.dumps(ablation))
    a = make_codec(f"roi-diffusion:pretrained=false,config={path}")
    a.load("cpu")
    assert a.model(5).net.entropy.cond_channels == 0 and _model(c).entropy.cond_channels == 1
    assert a.decode(a.encode(im, 5)).shape == im.shape


def test_uddq_variants_differ_only_in_decoding(configs):
    im, mask = smooth_image(6, 64, 96), _box_mask(64, 96)
    roi = _codec(configs, "uddq")
    data = roi.encode(im, 4, roi=mask)
    bg = _codec(configs, "uddq", sampler="ddim-bg")
    assert bg.encode(im, 4, roi=mask) == data
    assert not np.array_equal(roi.decode(data), bg.decode(data))
    assert roi.model(4).net.entropy.cond_channels == 0
    with pytest.raises(BenchError, match="sampler=nope"):
        make_codec(f"uddq:pretrained=false,config={configs['uddq']},sampler=nope")


# --- training -----------------------------------------------------------------------------------
def _train(codec_name, config, data, out, steps):
    from bench.codec.registry import get_codec_class
    from bench.diffusion.config import load_config
    from bench.train.loop import train
    cls = get_codec_class(codec_name)
    return train(cls, load_config(cls.config_folder(), str(config)), data, out, steps=steps, echo=lambda *a: None)


def test_each_stage_trains_its_module_and_uddq_trains_on_constant_maps(configs, image_folder, tmp_path):
    import csv

    from safetensors.torch import load_file
    _train("roi-diffusion", configs["roi-diffusion"], str(image_folder), tmp_path / "a", 4)
    _train("uddq", configs["uddq"], str(image_folder), tmp_path / "b", 4)
    rows = {k: list(csv.DictReader((tmp_path / k / "loss.csv").open())) for k in "ab"}
    assert [r["stage"] for r in rows["a"]] == ["denoiser"] * 2 + ["entropy"] * 2
    assert all(r["constant"] == "1" for r in rows["b"])
    assert all(math.isfinite(float(r["loss"])) for r in rows["a"] + rows["b"])
    assert float(rows["a"][2]["bpp"]) > 0
    weights = load_file(str(tmp_path / "a" / "model.safetensors"))
    c = make_codec(f"roi-diffusion:checkpoint={tmp_path / 'a'}")
    c.load("cpu")
    net = c.model(5).net
    assert torch.equal(net.entropy.slice_nets[0][0].weight, weights["entropy.slice_nets.0.0.weight"])


# --- the paper config ----------------------------------------------------------------------------
def test_paper_config_builds_from_a_local_sd21_folder_and_says_when_it_is_missing(tmp_path):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from bench.codec.registry import get_codec_class
    from bench.diffusion.config import load_config
    from bench.diffusion.denoisers import parameter_count
    root = tmp_path / "sd21"
    AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                  layers_per_block=1).save_pretrained(root / "vae")
    cls = get_codec_class("roi-diffusion")
    with pytest.raises(BenchError, match="unet/config.json and unet/diffusion_pytorch_model.safetensors"):
        cls.build_model(load_config(cls.config_folder(), "paper", [f"autoencoder.path={root}"]))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=8, layers_per_block=1)
    unet.save_pretrained(root / "unet")
    model = cls.build_model(load_config(cls.config_folder(), "paper", [f"autoencoder.path={root}"]))
    loaded = model.denoiser.unet.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in unet.state_dict().items())        # unchanged
    assert 3.5e6 < parameter_count(model.entropy) < 4.2e6        # the paper's ~4M (953.7M - 949.8M)
    t_map = torch.full((1, 1, 8, 8), 41.0)
    t_map[..., :4] = 981.0
    with torch.no_grad():
        assert model.predict_v(torch.randn(1, 4, 8, 8), t_map).shape == (1, 4, 8, 8)
    with pytest.raises(BenchError, match="autoencoder 'sd21'.*vae/config.json"):
        cls.build_model(load_config(cls.config_folder(), "paper", [f"autoencoder.path={tmp_path / 'none'}"]))


def test_estimate_counts_the_map_and_comes_within_a_few_percent_of_the_bytes(configs):
    im, mask = smooth_image(7, 128, 192), _box_mask(128, 192)
    real = _codec(configs)
    est = _codec(configs, estimate="true")
    data = est.encode(im, 4, roi=mask)
    assert est.bpp_source == "estimated"
    measured = 8 * len(real.encode(im, 4, roi=mask))
    assert 0.9 * measured < est.rate_bits(data) <= measured
