"""The rate-variable SDE codec and `bench train`: bitstreams, rates, training, resume."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import tomllib
import torch

from bench.codec import make_codec
from bench.codec.registry import CODECS
from bench.codec.verify_decode import verify_in_fresh_process
from bench.errors import BenchError
from bench.image import pixel_sha256
from bench.learned import unpack

from .conftest import KODAK, ROOT, run_cli, smooth_image

TINY = ROOT / "codecs" / "sde" / "configs" / "tiny.toml"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """config tiny with the random `tiny` autoencoder and small crops: seconds, not minutes."""
    cfg = tomllib.loads(TINY.read_text())
    cfg["autoencoder"] = {"kind": "tiny"}
    cfg["train"]["save_every"] = 2
    for stage in cfg["train"]["stages"]:
        stage.update(batch=2, crop=32)
    path = tmp_path_factory.mktemp("cfg") / "test.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def _codec(config_file, **opts):
    spec = ",".join([f"pretrained=false,config={config_file}"] + [f"{k}={v}" for k, v in opts.items()])
    c = make_codec(f"sde:{spec}")
    c.load("cpu")
    return c


def test_round_trip_of_an_odd_size_decodes_bit_exactly_in_a_fresh_process(config_file, tmp_path):
    c = _codec(config_file)
    im = smooth_image(0, 75, 101)
    data = c.encode(im, 0.45)
    out = c.decode(data)
    assert out.shape == im.shape and np.array_equal(out, c.decode(data))
    (tmp_path / "b.bnc").write_bytes(data)
    spec = f"sde:pretrained=false,config={config_file}"
    assert verify_in_fresh_process(spec, tmp_path / "b.bnc", pixel_sha256(out)) is None


def test_one_model_codes_every_rate_and_bits_do_not_grow_with_q(config_file):
    c = _codec(config_file)
    im = smooth_image(1, 96, 128)
    sizes = [len(c.encode(im, q)) for q in (0.2, 0.45, 0.9, 1.8)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert len(c._models) == 1


def test_the_header_carries_q_and_the_noise_seed_and_noise_changes_only_decoding(config_file):
    a, b = _codec(config_file), _codec(config_file, noise_seed=5)
    im = smooth_image(2, 64, 64)
    da, db = a.encode(im, 0.7), b.encode(im, 0.7)
    ca, cb = unpack(da, "sde"), unpack(db, "sde")
    assert ca.rate == 0.7 and ca.fields == (0,) and cb.fields == (5,)
    assert ca.streams == cb.streams                       # the seed moves no bit of the coded latent
    assert not np.array_equal(a.decode(da), b.decode(db))
    det = _codec(config_file, beta=0)
    assert det.options["beta"] == 0.0 and det.config_hash() != a.config_hash()
    assert str(config_file) not in str(a.describe())      # a config file counts by its content


def test_without_a_checkpoint_the_run_stops_before_work_with_the_train_command():
    msg = make_codec("sde").unavailable_at([0.5])
    assert "bench train sde" in msg and "checkpoint=DIR" in msg
    with pytest.raises(BenchError, match="unknown option betta="):
        make_codec("sde:betta=0")
    with pytest.raises(BenchError, match="noise=laplace; use one of gaussian, uniform"):
        make_codec("sde:noise=laplace")


def test_rate_points_pair_lambda_with_the_high_rate_optimal_q():
    import importlib
    model = importlib.import_module(CODECS.load("sde").__module__ + ".model")
    lambda_scale, rate_points = model.lambda_scale, model.rate_points
    rate = tomllib.loads(TINY.read_text())["rate"]
    pairs, k = rate_points(rate), lambda_scale(rate)
    assert pairs[-1] == (0.0001, rate["q_max"])
    for lam, q in pairs:          # d/dq [-log2 q + lam K q^2 / 12] = 0
        assert math.isclose(q * q, 6 / (math.log(2) * lam * k))
    assert [q for _, q in pairs] == sorted(q for _, q in pairs)


def test_paper_config_keeps_the_papers_schedule_and_steps_rescale():
    from bench.train.loop import plan_stages
    paper = CODECS.load("sde").load_config("paper")
    stages = plan_stages(paper["train"]["stages"], None)
    assert [s.steps for s in stages] == [750_000, 1_125_000, 1_000_000]
    assert stages[1].lr(stages[1].first) == 1e-4 and stages[1].lr(stages[1].first + 800_000) == 1e-5
    assert stages[2].lr(stages[2].first + 600_000) == 5e-5
    assert paper["train"]["optimizer"] == {"betas": [0.9, 0.95], "weight_decay": 0.02}
    small = plan_stages(paper["train"]["stages"], 1000)
    assert sum(s.steps for s in small) == 1000 and [s.steps for s in small] == [261, 391, 348]


def _train(config_file, data, out, steps=6, interrupt_at=None, monkeypatch=None):
    from bench.train.loop import train
    cls = CODECS.load("sde")
    cfg = cls.load_config(str(config_file))
    if interrupt_at is not None:
        build, calls = cls.build_model, []

        def build_interrupting(config):
            model = build(config)
            loss = model.loss

            def wrapped(stage, x):
                calls.append(1)
                if len(calls) == interrupt_at:
                    raise KeyboardInterrupt
                return loss(stage, x)
            model.loss = wrapped
            return model
        monkeypatch.setattr(cls, "build_model", staticmethod(build_interrupting))
    return train(cls, cfg, str(data), out, steps=steps, echo=lambda m: None)


def _weights(folder):
    from safetensors.torch import load_file
    return load_file(str(folder / "model.safetensors"))


def _log(folder):
    with (folder / "loss.csv").open() as fh:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


def test_an_interrupted_training_resumes_to_the_uninterrupted_result(config_file, image_folder, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    _train(config_file, image_folder, whole)
    cut = tmp_path / "cut"
    with pytest.raises(BenchError, match="interrupted at step 3 of 6.*same command to resume"):
        _train(config_file, image_folder, cut, interrupt_at=4, monkeypatch=monkeypatch)
    monkeypatch.undo()
    _train(config_file, image_folder, cut)
    a, b = _weights(whole), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _log(whole) == _log(cut) and len(_log(cut)) == 6
    assert {r["stage"] for r in _log(cut)} == {"entropy", "denoiser"}


def test_a_trained_folder_is_the_codecs_checkpoint(config_file, image_folder, tmp_path):
    out = tmp_path / "run"
    _train(config_file, image_folder, out, steps=4)
    c = make_codec(f"sde:checkpoint={out}")
    c.load("cpu")
    im = smooth_image(3, 64, 80)
    assert c.decode(c.encode(im, 0.45)).shape == im.shape
    ident = c.describe()["weights"]
    assert ident["source"] == "bench train checkpoint" and len(ident["sha256"]) == 64 and ident["complete"]
    assert str(out) not in str(c.describe())          # a moved checkpoint keeps its cache keys
    import json
    meta = json.loads((out / "config.json").read_text())
    meta["autoencoder"]["sha256"] = {"other.safetensors": "0" * 64}
    (out / "config.json").write_text(json.dumps(meta))
    other = make_codec(f"sde:checkpoint={out}")
    other.load("cpu")
    with pytest.raises(BenchError, match="trained with other autoencoder weights"):
        other.encode(im, 0.45)
    with pytest.raises(BenchError, match="carries its own config; drop config=tiny"):
        make_codec(f"sde:checkpoint={out},config=tiny")
    with pytest.raises(BenchError, match="lacks config.json and model.safetensors"):
        make_codec(f"sde:checkpoint={tmp_path}")


def test_training_on_the_test_set_is_refused():
    if not (KODAK / "kodim01.png").exists():
        pytest.skip("Kodak not here")
    from bench.train.data import TrainImages
    with pytest.raises(BenchError, match="test set 'kodak'"):
        TrainImages(str(KODAK))


def test_bench_train_cli_trains_then_says_there_is_nothing_to_do(config_file, image_folder, tmp_path, env):
    args = ["train", "sde", "--config", str(config_file), "--data", str(image_folder), "--steps", "2",
            "--out", str(tmp_path / "cli"), "--device", "cpu"]
    first = run_cli(args, env)
    assert first.returncode == 0, first.stderr
    assert "parameters: entropy" in first.stderr and "trained 2 steps" in first.stderr
    again = run_cli(args, env)
    assert again.returncode == 0 and "already trained (2 steps)" in again.stderr
    other = run_cli([a if a != "2" else "4" for a in args], env)
    assert other.returncode != 0 and "use a new --out" in other.stderr
