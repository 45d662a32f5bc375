"""Network codecs on the learned-codec base (CompressAI zoo, MS-ILLM), with seeded random
weights (no checkpoint ships here): real bitstreams in the container, bit-exact decoding in a
fresh process, any image size, user checkpoints in the cache key, clear missing-weight errors."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pytest
import torch
from PIL import Image

from bench.codec import make_codec
from bench.codec.verify_decode import verify_in_fresh_process
from bench.errors import BenchError, CodecError
from bench.image import pixel_sha256
from bench.learned import Container, pack, unpack

from .conftest import run_cli, smooth_image

FAST = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean")
SLOW = ("mbt2018", "cheng2020-anchor", "cheng2020-attn")       # autoregressive context: seconds per image


@pytest.fixture(autouse=True)
def no_official_weights(tmp_path, monkeypatch):
    """Nothing found where official checkpoints are looked for."""
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def codec(spec: str):
    c = make_codec(spec)
    c.load("cpu")
    return c


def test_container_layout_is_the_documented_one():
    box = Container("bmshj2018-hyperprior", 3, 512, 768, (b"y" * 1000, b"z" * 100), (8, 12))
    data = pack(box)
    # magic 2 + version 1 + flags 1 + id (1 + 20) + rate (tag + varint) 2 + H 2 + W 2
    # + fields (count 1 + two one-byte zigzag varints) 3 + streams (count 1 + lengths 2 + 1) 4
    assert box.header_size() == 2 + 1 + 1 + 21 + 2 + 2 + 2 + 3 + 4 == 38
    assert len(data) == 38 + 1100 and data[:4] == b"BN\x01\x00"
    assert unpack(data, "bmshj2018-hyperprior") == box
    for rate, size in ((0.125, 5), (0.1, 9), (-2, 2)):       # float32-exact, float64, negative integer
        again = unpack(pack(Container("c", rate, 1, 1)))
        assert again.rate == rate and len(pack(Container("c", rate, 1, 1))) - len(pack(Container("c", 0, 1, 1))) \
            == size - 2
    seeded = Container("c", 1, 9, 9, (b"",), (-5,), seed=123456, estimated_bits=1234.5)
    assert unpack(pack(seeded)) == seeded


def test_bad_bitstreams_are_one_clear_error():
    data = pack(Container("mbt2018", 2, 64, 64, (b"abc",)))
    with pytest.raises(CodecError, match="bad magic"):
        unpack(b"XX" + data[2:])
    with pytest.raises(CodecError, match="truncated"):
        unpack(data[:-1])
    with pytest.raises(CodecError, match="bitstream of codec 'mbt2018', not 'cheng2020-anchor'"):
        unpack(data, "cheng2020-anchor")
    with pytest.raises(CodecError, match="format version 9"):
        unpack(data[:2] + b"\x09" + data[3:])


@pytest.mark.parametrize("name", FAST + SLOW + ("illm",))
def test_bytes_are_the_models_own_strings_plus_the_header(name):
    c = codec(f"{name}:pretrained=false")
    img = smooth_image(2, 64, 128)
    data = c.encode(img, 2)
    box = unpack(data, name)
    model = c.model(2)
    with torch.no_grad():
        (streams, fields), = c.compress(model, c._pad([img]))
    assert list(box.streams) == streams and list(box.fields) == fields
    assert len(data) == box.header_size() + sum(len(s) for s in streams)
    assert c.rate_bits(data) == 8 * len(data)
    recon = c.decode(data)
    assert recon.shape == img.shape and recon.dtype == np.uint8
    assert np.array_equal(recon, c.decode(data))                  # decoding is a function of the bytes


@pytest.mark.parametrize("name", ("bmshj2018-hyperprior", "mbt2018-mean"))
def test_odd_sizes_round_trip_and_decode_bit_exactly_in_a_fresh_process(name, tmp_path):
    c = codec(f"{name}:pretrained=false")
    img = smooth_image(3, 257, 333)                               # 333x257: padded to 384x320
    data = c.encode(img, 3)
    recon = c.decode(data)
    assert recon.shape == (257, 333, 3)
    assert unpack(data).height == 257 and unpack(data).width == 333
    path = tmp_path / "stream.bnc"
    path.write_bytes(data)
    assert verify_in_fresh_process(f"{name}:pretrained=false", path, pixel_sha256(recon)) is None


def test_batch_calls_code_each_image_completely(tmp_path):
    c = codec("bmshj2018-hyperprior:pretrained=false")
    images = [smooth_image(i, 64, 64) for i in range(3)]
    data = c.encode_batch(images, 4)
    assert [unpack(d).streams for d in data] == [unpack(c.encode(im, 4)).streams for im in images]
    singles = [c.decode(d) for d in data]
    assert all(np.array_equal(a, b) for a, b in zip(c.decode_batch(data), singles))


def test_random_weights_are_seeded_and_said_so():
    a, b = codec("mbt2018-mean:pretrained=false"), codec("mbt2018-mean:pretrained=false")
    other = codec("mbt2018-mean:pretrained=false,seed=1")
    img = smooth_image(4, 64, 64)
    assert a.encode(img, 1) == b.encode(img, 1) != other.encode(img, 1)
    assert a.config_hash() == b.config_hash() != other.config_hash()
    assert a.describe()["weights"]["source"].startswith("random initialisation (seed 0)")
    assert "random weights (pretrained=false)" in a.warnings()[0]


def test_user_checkpoint_file_and_folder(tmp_path):
    random = codec("bmshj2018-hyperprior:pretrained=false")
    sd = {k: v for k, v in random._random(2).state_dict().items()}
    ckpt = tmp_path / "mine.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, ckpt)   # a training script's wrapper
    mine = codec(f"bmshj2018-hyperprior:checkpoint={ckpt}")
    img = smooth_image(5, 64, 96)
    assert mine.encode(img, 2) == random.encode(img, 2)              # the same weights code the same bytes
    assert mine.describe()["weights"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert len(mine.options["checkpoint"]) == 12                      # a short tag for plot labels
    assert mine.config_hash() != random.config_hash()
    moved = tmp_path / "elsewhere" / "copy.pth.tar"
    moved.parent.mkdir()
    moved.write_bytes(ckpt.read_bytes())
    assert codec(f"bmshj2018-hyperprior:checkpoint={moved}").config_hash() == mine.config_hash()   # path-free key
    sd["g_a.0.bias"] = sd["g_a.0.bias"] + 1
    torch.save(sd, tmp_path / "changed.pth")
    assert codec(f"bmshj2018-hyperprior:checkpoint={tmp_path / 'changed.pth'}").config_hash() != mine.config_hash()
    # a folder: one file per quality
    folder = tmp_path / "per-quality"
    folder.mkdir()
    (folder / "2.pth.tar").write_bytes(ckpt.read_bytes())
    per_q = codec(f"bmshj2018-hyperprior:checkpoint={folder}")
    assert per_q.encode(img, 2) == random.encode(img, 2)
    with pytest.raises(BenchError, match=r"has no file for rate point 5 \(name files like 5.pth\)"):
        per_q.encode(img, 5)
    with pytest.raises(BenchError, match="checkpoint .*nothing-here not found"):
        make_codec(f"bmshj2018-hyperprior:checkpoint={tmp_path / 'nothing-here'}")


def test_missing_official_checkpoint_is_one_line_before_the_run(image_folder, tmp_path, env):
    c = make_codec("bmshj2018-hyperprior")
    why = c.unavailable_at([3])
    assert "bmshj2018-hyperprior-3-6d87be32.pth.tar (sha256 starting with 6d87be32" in why
    assert str(tmp_path / "weights") in why and "bench weights fetch compressai/bmshj2018-hyperprior/mse/3" in why
    res = run_cli(["run", "--codecs", "bmshj2018-hyperprior", "--rates", "3", "--dataset", str(image_folder),
                   "--out", str(tmp_path / "o"), "--workers", "0"],
                  {**env, "BENCH_WEIGHTS_DIR": str(tmp_path / "weights"), "TORCH_HOME": str(tmp_path / "torch")})
    assert res.returncode == 2 and "codec 'bmshj2018-hyperprior' cannot run here: weights" in res.stderr
    assert "Traceback" not in res.stderr


def test_run_with_verify_decode_and_estimated_rows(tmp_path, env):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(smooth_image(0, 72, 100)).save(folder / "i0.png")
    out = tmp_path / "o"
    # each --verify-decode starts a fresh interpreter (~10 s to import compressai here): one image, one rate
    res = run_cli(["run", "--codecs", "bmshj2018-hyperprior:pretrained=false,"
                   "bmshj2018-hyperprior:pretrained=false,estimate=true", "--rates", "4", "--dataset", str(folder),
                   "--metrics", "psnr", "--out", str(out), "--workers", "0", "--verify-decode"], env)
    assert res.returncode == 0, res.stderr
    assert "random weights (pretrained=false)" in " ".join(res.stderr.split())
    rows = sqlite3.connect(out / "bench.sqlite").execute(
        "SELECT codec_spec, status, verified, bytes, bpp, bpp_source, height, width FROM jobs").fetchall()
    assert len(rows) == 2 and {r[1:3] for r in rows} == {("ok", 1)}
    for spec, _, _, nbytes, bpp, source, h, w in rows:
        if "estimate" in spec:
            assert source == "estimated" and bpp != pytest.approx(8 * nbytes / (h * w), rel=1e-6)
        else:
            assert source == "measured" and bpp == 8 * nbytes / (h * w)
    assert "*" in run_cli(["results", "--out", str(out)], env).stdout      # estimated rates are marked


def test_official_checkpoints_are_looked_for_in_torch_hub_and_checked(tmp_path):
    from bench import weights as W
    name = "compressai/bmshj2018-hyperprior/mse/3"
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "bmshj2018-hyperprior-3-6d87be32.pth.tar").write_bytes(b"not the published file")
    found, rejected = W.find(name)
    assert found is None and rejected[0][0].path == hub / "bmshj2018-hyperprior-3-6d87be32.pth.tar"
    assert "does not start with 6d87be32" in rejected[0][1]
    assert W.select(["compressai/mbt2018-mean/ms-ssim"]) == [f"compressai/mbt2018-mean/ms-ssim/{q}" for q in range(1, 9)]
    assert W.select(["illm"]) == [f"illm/vlo/{q}" for q in (1, 2)] + [f"illm/quality/{q}" for q in range(1, 7)]
    assert all(W.spec(n).kind == "metric" for n in W.select(None))      # `bench weights fetch` alone: metrics only
    assert len(W.select(["compressai"])) == 2 * (4 * 8 + 2 * 6)          # 6 models x (mse, ms-ssim) x qualities


@pytest.mark.parametrize("name", ("mbt2018-mean", "illm"))
def test_estimated_rate_is_the_likelihood_bits_and_decoding_still_uses_the_real_strings(name):
    measured, estimated = codec(f"{name}:pretrained=false"), codec(f"{name}:pretrained=false,estimate=true")
    img = smooth_image(6, 64, 128)
    real, est = measured.encode(img, 2), estimated.encode(img, 2)
    assert unpack(est).streams == unpack(real).streams                  # the same coded strings ...
    bits = estimated.rate_bits(est)
    assert unpack(est).estimated_bits == bits and estimated.bpp_source == "estimated"
    # ... and an ideal coder's rate near what the real coder spent on them: rANS with 16-bit CDFs
    # and a quantised scale table lands within ~12 % of it on these small random-weight images
    assert bits == pytest.approx(8 * sum(len(s) for s in unpack(real).streams), rel=0.15)
    assert np.array_equal(estimated.decode(est), measured.decode(real))
