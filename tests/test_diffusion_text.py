"""CADC's textual conditioning (bench/diffusion/text.py) on tiny seeded random models."""

from __future__ import annotations

import pytest
import torch

from bench.diffusion import text
from bench.errors import BenchError


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("text_models")
    return {"blip": text.write_tiny_blip(root / "blip"), "sd": text.write_tiny_sd_text(root / "sd"),
            "clip": text.write_tiny_clip(root / "clip")}


def _images(n, seed=0, h=40, w=48):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g)


def test_captions_deterministic_and_per_image(folders):
    cap = text.load_captioner({"path": str(folders["blip"]), "max_new_tokens": 12})
    assert cap.image_size == 32                       # the processor's own size when the spec gives none
    x = _images(2)
    both = cap.caption(x)
    assert both == cap.caption(x.clone())
    assert both == [cap.caption(x[:1])[0], cap.caption(x[1:])[0]]
    assert both[0] != both[1]                      # the image steers the caption
    assert all(isinstance(c, str) and c == c.strip() and c for c in both)
    vocab = set((folders["blip"] / "vocab.txt").read_text().split())
    assert all(w in vocab for c in both for w in c.split())
    assert len(cap.identity["sha256"]["model.safetensors"]) == 64
    assert cap.identity["source"] == str(folders["blip"].resolve())
    assert not any(p.requires_grad for p in cap.net.parameters())


def test_prompt_eq12():
    assert text.prompt("a dog on a beach", "sharp.") == "a dog on a beach sharp."
    assert text.prompt("", "sharp.") == "sharp."
    assert text.prompt("  ", text.FIXED_PROMPT) == text.FIXED_PROMPT
    assert text.prompt("a cat", text.FIXED_PROMPT) == "a cat A high-resolution, 8K, ultra-realistic image with " \
        "sharp focus, vibrant colors, and natural lighting"


def test_text_encoder_shape_and_rows(folders):
    enc = text.load_text_encoder({"path": str(folders["sd"]), "max_length": 77})
    assert enc.dim == 32
    e = enc.encode(["a cat " + text.FIXED_PROMPT, "a cat " + text.FIXED_PROMPT, "a red car"], "cpu")
    assert e.shape == (3, 77, 32) and torch.isfinite(e).all()
    assert torch.equal(e[0], e[1])
    assert (e[0] - e[2]).abs().max() > 1e-4
    assert not any(p.requires_grad for p in enc.net.parameters())


def test_clip_embed_differentiable_and_frozen(folders):
    clip = text.load_clip_image({"path": str(folders["clip"])})
    assert clip.size == 32
    x = _images(2, h=64, w=80).requires_grad_(True)
    e = clip.embed(x)
    assert e.shape == (2, 16)
    loss = (e - clip.embed(_images(2, seed=1, h=64, w=80))).norm(dim=-1).mean()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in clip.net.parameters())


@pytest.mark.parametrize("loader,needs", [
    (text.load_captioner, ["config.json", "model.safetensors or pytorch_model.bin", "preprocessor_config.json",
                           "vocab.txt", "captioner.path=DIR", "captions=false"]),
    (text.load_text_encoder, ["tokenizer/vocab.json", "tokenizer/merges.txt", "text_encoder/config.json",
                              "text_encoder/model.safetensors"]),
    (text.load_clip_image, ["config.json", "model.safetensors", "preprocessor_config.json"]),
])
def test_missing_folder_one_line(tmp_path, loader, needs):
    with pytest.raises(BenchError) as err:
        loader({"path": str(tmp_path)})
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path) in msg
    assert all(n in msg for n in needs), msg
