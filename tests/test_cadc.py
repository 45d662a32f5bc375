"""CADC: the paper's identities (UGAQ eqs. 1-8, the quadtree context, one-step denoising of the
first 4 channels, ADGIC's x_aux, BFATC's bit-free captions), bitstreams, training stages and
the paper config's local folder layouts. Random weights throughout, said as such: a small
config with the random `tiny` autoencoder (y at 1/16 instead of 1/64, so 64-pixel images)."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import tomllib
import torch
import torch.nn.functional as F

from bench.codec import make_codec
from bench.codec.verify_decode import verify_in_fresh_process
from bench.errors import BenchError
from bench.image import pixel_sha256
from bench.learned import unpack

from .conftest import ROOT, smooth_image

CONFIGS = ROOT / "codecs" / "cadc" / "configs"


def _small(out: Path, **tables) -> Path:
    cfg = tomllib.loads((CONFIGS / "tiny.toml").read_text())
    cfg["autoencoder"] = {"kind": "tiny"}
    cfg["analysis"].update(factor=16, channels=16, widths=[16, 16])
    cfg["ugaq"]["width"] = 16
    cfg["entropy"]["width"] = 16
    cfg["synthesis"].update(channels=8, widths=[16, 16])
    cfg["aux"]["widths"] = [8, 8]
    cfg["discriminator"] = {"width": 8, "layers": 2}
    cfg["train"]["save_every"] = 2
    for stage in cfg["train"]["stages"]:
        stage.update(batch=2, crop=64, decode_crop=0)
    for name, values in tables.items():
        cfg.setdefault(name, {}).update(values)
    out.write_text(tomli_w.dumps(cfg))
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    from bench.diffusion.text import write_tiny_blip, write_tiny_sd_text
    root = tmp_path_factory.mktemp("cadc")
    blip, text = write_tiny_blip(root / "blip"), write_tiny_sd_text(root / "sd-text")
    return {"small": _small(root / "small.toml"),
            "iso": _small(root / "iso.toml", ugaq={"enabled": False}),
            "text": _small(root / "text.toml", text={"path": str(text)}, captioner={"path": str(blip)}),
            "blip": blip, "sd-text": text}


def _codec(config: Path, **opts):
    spec = ",".join([f"pretrained=false,config={config}"] + [f"{k}={v}" for k, v in opts.items()])
    c = make_codec(f"cadc:{spec}")
    c.load("cpu")
    return c


def _image(seed=0, h=64, w=128):
    return torch.from_numpy(smooth_image(seed, h, w)).permute(2, 0, 1)[None].float() / 255


# --- UGAQ (eqs. 1-8) ---------------------------------------------------------------------------------
def test_ugaq_identities(folders):
    net = _codec(folders["small"]).model(2.0).net
    x, delta = _image(), 2.0
    seen = {}
    hook = net.f_u.register_forward_hook(lambda mod, args, out: seen.update(r=args[0].clone(), m=out.clone()))
    y_bar, z_hat = net.analyse(x)
    hook.remove()
    y = net.g_a(x)
    assert torch.equal(z_hat, torch.round(z_hat)) and torch.equal(z_hat, torch.round(net.entropy.h_a(y)))
    up = F.interpolate(z_hat, size=y.shape[-2:], mode="bilinear", align_corners=False)
    assert torch.allclose(seen["r"], y - up)                                    # eq. 2, z_hat integer
    assert bool((seen["m"] >= 1).all()) and float(seen["m"].max()) > 1          # eq. 3: m >= 1
    assert torch.allclose(y_bar, y / seen["m"])                                 # eq. 4
    y_hat = net.quantized_latent(x, delta)
    k = y_hat / delta
    assert torch.equal(k, torch.round(k))                                       # eq. 5: y_hat / Delta integer
    assert float((y_hat - y_bar).abs().max()) <= delta / 2 + 1e-6
    iso = _codec(folders["iso"]).model(2.0).net                                 # the m = 1 ablation
    assert torch.equal(iso.uncertainty(y, z_hat), torch.ones_like(y))
    assert torch.allclose(iso.analyse(x)[0], iso.g_a(x))


def test_the_decoder_never_needs_m(folders):
    """What the decoder rebuilds from the bytes is y_hat = round(y / m / Delta) Delta, with f_u
    never run: the decoder feeds y_hat on without the inverse scaling (eq. 7)."""
    net = _codec(folders["small"]).model(2.0).net
    x = _image(1)
    (strings,) = net.compress(x, 2.0)
    calls = []
    hook = net.f_u.register_forward_hook(lambda *a: calls.append(1))
    y_hat, z_hat = net.entropy.decompress(strings, (4, 8), 2.0, net.coding_cond(2.0, (4, 8)))
    hook.remove()
    assert not calls
    assert torch.equal(y_hat, net.quantized_latent(x, 2.0))
    assert torch.equal(z_hat, torch.round(net.entropy.h_a(net.g_a(x))))


# --- the quadtree context -----------------------------------------------------------------------------
def test_the_four_quadtree_masks_partition_the_latent_and_each_element_is_coded_once():
    from bench.diffusion.quadtree import quadtree_masks
    masks = quadtree_masks(8, 6, 10)
    assert masks.shape == (4, 8, 6, 10)
    assert torch.equal(masks.sum(0), torch.ones(8, 6, 10, dtype=torch.long))   # a partition
    assert [int(m.sum()) for m in masks] == [8 * 6 * 10 // 4] * 4              # a quarter each
    for s in range(4):      # in each step every channel group codes exactly one 2x2 position
        for g in range(4):
            block = masks[s, 2 * g, :2, :2]
            assert int(block.sum()) == 1 and torch.equal(masks[s, 2 * g], masks[s, 2 * g + 1])


def test_quadtree_coding_reaches_the_information_content_and_later_steps_use_earlier_ones(folders):
    from bench.diffusion.quadtree import quadtree_masks
    net = _codec(folders["small"]).model(1.0).net
    x = _image(2, 128, 128)
    (strings,) = net.compress(x, 1.0)
    (bits,) = net.information(x, 1.0)
    coded = 8 * sum(len(s) for s in strings)
    assert bits <= coded <= bits * 1.02 + 64 * 5                   # ANS: at most two 32-bit words a string
    # the context: step 1's Gaussians change when a step-0 element changes, step 0's do not
    ent = net.entropy
    y_hat = net.quantized_latent(x, 1.0)
    z_hat = torch.round(ent.h_a(net.g_a(x)))
    feats, cond = ent.h_s(z_hat), net.coding_cond(1.0, y_hat.shape[-2:])
    masks = quadtree_masks(*y_hat.shape[1:])
    ctx = torch.where(masks[0][None], y_hat, torch.zeros_like(y_hat))
    changed = ctx.clone()
    changed[0, 0, 0, 0] += 5.0                                       # (0, 0, 0) is coded in step 0
    assert bool(masks[0, 0, 0, 0])
    assert not torch.equal(ent._gaussian(1, feats, cond, ctx)[0], ent._gaussian(1, feats, cond, changed)[0])
    assert torch.equal(ent._gaussian(0, feats, cond, torch.zeros_like(y_hat))[0],
                       ent._gaussian(0, feats, cond, torch.zeros_like(y_hat))[0])


def test_bits_fall_as_delta_grows(folders):
    c = _codec(folders["small"])
    im = smooth_image(3, 128, 128)
    sizes = [len(c.encode(im, d)) for d in (0.25, 1.0, 4.0)]
    assert sizes[0] > sizes[1] > sizes[2]


# --- the decoder: one step on the first 4 channels, ADGIC, BFATC ------------------------------------------
def test_the_unet_runs_once_sees_all_channels_and_only_the_first_four_are_denoised(folders):
    from bench.diffusion.schedules import alpha_sigma
    net = _codec(folders["small"]).model(2.0).net
    y_hat = net.quantized_latent(_image(4), 2.0)
    calls = []
    hook = net.denoiser.register_forward_hook(lambda mod, args, out: calls.append((args[0].clone(), out.sample.clone())))
    decoded, original = {}, net.autoencoder.decode

    def decode(l0):
        decoded["l0"] = l0.clone()
        return original(l0)

    net.autoencoder.decode = decode
    try:
        x_hat, _, l_T = net.synthesize(y_hat)
    finally:
        net.autoencoder.decode = original
        hook.remove()
    assert len(calls) == 1                                           # one network evaluation
    seen, eps = calls[0]
    assert seen.shape[1] == l_T.shape[1] == 8 and torch.equal(seen, l_T)        # all C channels in
    assert eps.shape[1] == 4                                                    # 4 out
    a, s = alpha_sigma(torch.tensor(999))
    assert torch.allclose(decoded["l0"], (l_T[:, :4] - s * eps) / a)          # only l_T[:4] denoised
    assert x_hat.shape == (1, 3, 64, 128)


def test_x_aux_is_unchanged_when_channels_5_to_c_change(folders):
    net = _codec(folders["small"]).model(2.0).net
    l_T = torch.randn(1, 8, 16, 32)
    other = l_T.clone()
    other[:, 4:] = torch.randn(1, 4, 16, 32) * 10
    assert torch.equal(net.auxiliary(l_T), net.auxiliary(other))
    moved = l_T.clone()
    moved[:, 0] += 1
    assert not torch.equal(net.auxiliary(l_T), net.auxiliary(moved))


def test_captions_change_no_byte_and_condition_the_decoder(folders):
    on, off = _codec(folders["text"], captions="true"), _codec(folders["text"], captions="false")
    im = smooth_image(5, 64, 128)
    data = on.encode(im, 2.0)
    assert data == off.encode(im, 2.0)                               # bit-free: the same bitstream
    net = on.model(2.0).net
    y_hat = net.quantized_latent(_image(5), 2.0)
    x_aux = net.auxiliary(net.g_s(y_hat))
    (prompt,) = net.prompts(x_aux)
    caption = net._frozen("captioner").caption(x_aux.clamp(0, 1))[0]
    from bench.diffusion.text import FIXED_PROMPT
    assert prompt == f"{caption} {FIXED_PROMPT}" and caption                  # eq. 12
    assert off.model(2.0).net.prompts(x_aux) == [FIXED_PROMPT]
    assert not np.array_equal(on.decode(data), off.decode(data))    # the caption reaches the U-Net
    assert np.array_equal(on.decode(data), on.decode(data))         # greedy: deterministic


def test_captions_need_a_text_encoder_and_a_captioner(folders, tmp_path):
    c = make_codec(f"cadc:pretrained=false,config={folders['small']},captions=true")
    assert "text.path=DIR" in c.unavailable_at([2.0])
    cfg = _small(tmp_path / "c.toml", text={"path": str(folders["sd-text"])}, captioner={"path": str(tmp_path / "no")})
    why = make_codec(f"cadc:pretrained=false,config={cfg},captions=true").unavailable_at([2.0])
    assert "BLIP captioner not found" in why and str(tmp_path / "no") in why and "\n" not in why
    assert make_codec(f"cadc:pretrained=false,config={cfg},captions=false").unavailable_at([2.0]) is None


def test_decode_from_the_bytes_alone_in_a_fresh_process_is_bit_exact(folders, tmp_path):
    c = _codec(folders["small"])
    im = smooth_image(6, 75, 101)                                   # odd size: padded to 128x128
    data = c.encode(im, 1.5)
    box = unpack(data, "cadc")
    assert len(box.streams) == 5 and box.rate == 1.5                # z, then the four quadtree steps
    out = c.decode(data)
    assert out.shape == im.shape
    (tmp_path / "b.bnc").write_bytes(data)
    assert verify_in_fresh_process(f"cadc:pretrained=false,config={folders['small']}", tmp_path / "b.bnc",
                                   pixel_sha256(out)) is None


def test_estimate_comes_within_a_few_percent_of_the_bytes(folders):
    im = smooth_image(7, 256, 256)
    est = _codec(folders["small"], estimate="true")
    measured = 8 * len(_codec(folders["small"]).encode(im, 1.0))
    assert 0.85 * measured < est.rate_bits(est.encode(im, 1.0)) <= measured


# --- training ---------------------------------------------------------------------------------------
def _train(config, data, out, steps):
    from bench.codec.registry import get_codec_class
    from bench.diffusion.config import load_config
    from bench.train.loop import train
    cls = get_codec_class("cadc")
    return train(cls, load_config(cls.config_folder(), str(config)), data, out, steps=steps, echo=lambda *a: None)


def test_two_stages_add_the_auxiliary_and_adversarial_losses_in_stage_two(folders, image_folder, tmp_path):
    from safetensors.torch import load_file
    _train(folders["small"], str(image_folder), tmp_path / "a", 4)
    _train(folders["iso"], str(image_folder), tmp_path / "b", 2)
    from bench.diffusion.text import write_tiny_clip
    captioned = _small(tmp_path / "t.toml", text={"path": str(folders["sd-text"])},
                       captioner={"path": str(folders["blip"])}, sampler={"captions": True},
                       clip={"path": str(write_tiny_clip(tmp_path / "clip"))})
    cfg = tomllib.loads(captioned.read_text())
    for stage in cfg["train"]["stages"]:
        stage["d_clip"] = 0.5
    captioned.write_text(tomli_w.dumps(cfg))
    _train(captioned, str(image_folder), tmp_path / "c", 2)          # BFATC and the CLIP loss in training
    clip_rows = list(csv.DictReader((tmp_path / "c" / "loss.csv").open()))
    assert len(clip_rows) == 2 and all(float(r["clip"]) > 0 for r in clip_rows)
    rows = list(csv.DictReader((tmp_path / "a" / "loss.csv").open()))
    assert [r["stage"] for r in rows] == ["base"] * 2 + ["target"] * 2
    assert all(r["aux_mse"] == "" and r["g_adv"] == "" for r in rows[:2])
    assert all(float(r["aux_mse"]) > 0 and r["d_loss"] != "" for r in rows[2:])
    assert all(math.isfinite(float(r["loss"])) and float(r["bpp"]) > 0 for r in rows)
    assert all(float(r["m_mean"]) > 1 for r in rows)
    assert all(float(r["m_mean"]) == 1 for r in csv.DictReader((tmp_path / "b" / "loss.csv").open()))
    weights = load_file(str(tmp_path / "a" / "model.safetensors"))
    c = make_codec(f"cadc:checkpoint={tmp_path / 'a'}")
    c.load("cpu")
    net = c.model(2.0).net
    assert torch.equal(net.g_aux[0].weight, weights["g_aux.0.weight"])
    assert not any(k.startswith(("autoencoder.", "_text")) for k in weights)


# --- the paper config --------------------------------------------------------------------------------
def test_paper_config_builds_from_local_folders_and_names_each_missing_component(folders, tmp_path):
    import shutil

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel

    from bench.codec.registry import get_codec_class
    from bench.diffusion.config import load_config
    from bench.diffusion.text import write_tiny_clip
    root = tmp_path / "sd-turbo"
    AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                  up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=8,
                  layers_per_block=1).save_pretrained(root / "vae")
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8, layers_per_block=1)
    unet.save_pretrained(root / "unet")
    for sub in ("tokenizer", "text_encoder"):
        shutil.copytree(folders["sd-text"] / sub, root / sub)
    dino = tmp_path / "dinov2"
    Dinov2WithRegistersModel(Dinov2WithRegistersConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                                       intermediate_size=32, image_size=28, patch_size=14,
                                                       num_register_tokens=4)).save_pretrained(dino)
    clip = write_tiny_clip(tmp_path / "clip")
    paths = [f"autoencoder.path={root}", f"captioner.path={folders['blip']}", f"clip.path={clip}",
             f"discriminator.backbone={dino}", "discriminator.layers=[1, 2]", "discriminator.image_size=28"]
    cls = get_codec_class("cadc")
    model = cls.build_model(load_config(cls.config_folder(), "paper", paths))
    conv = model.denoiser.conv_in
    assert conv.in_channels == 320 and model.denoiser.config.in_channels == 320      # widened to l_T's C
    assert torch.equal(conv.weight[:, :4], unet.conv_in.weight) and not conv.weight[:, 4:].any()
    loaded = model.denoiser.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in unet.state_dict().items() if not k.startswith("conv_in"))
    assert model.g_a(torch.rand(1, 3, 256, 256)).shape == (1, 320, 4, 4)             # 320 channels at 1/64
    assert model.g_s(torch.zeros(1, 320, 4, 4)).shape == (1, 320, 32, 32)            # l_T at 1/8
    with torch.no_grad():
        x_hat, x_aux, _ = model.synthesize(torch.zeros(1, 320, 1, 1))
        assert model.prompts(x_aux)[0].endswith("natural lighting")                  # BFATC on
        assert model.discriminator(x_hat).shape[0] == 1 and model._frozen("clip").embed(x_hat).shape == (1, 16)
    shutil.rmtree(dino)
    with pytest.raises(BenchError, match="discriminator backbone not found"):
        cls.build_model(load_config(cls.config_folder(), "paper", paths))
    shutil.rmtree(root / "unet")
    with pytest.raises(BenchError, match=r"unet/config\.json"):
        cls.build_model(load_config(cls.config_folder(), "paper", paths))
    config = load_config(cls.config_folder(), "paper", paths)
    check_components = sys.modules[cls.model_class().__module__].check_components
    shutil.rmtree(root / "text_encoder")
    with pytest.raises(BenchError, match="text_encoder/config.json"):
        check_components(config)
    with pytest.raises(BenchError, match="CLIP image encoder not found"):
        model.config = load_config(cls.config_folder(), "paper", paths + [f"clip.path={tmp_path / 'none'}"])
        model._text.pop("clip")
        model._frozen("clip")
