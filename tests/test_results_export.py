"""`bench results` aggregates and `bench export` rows, from one real small run."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from bench.pipeline.run import RunOptions, run
from bench.store import Store

from .conftest import run_cli, write_images


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    folder = write_images(base / "imgs", [(200, 240 + 16 * i) for i in range(3)], prefix="p")
    out = base / "out"
    report = run(RunOptions(dataset=str(folder), codecs=["jpeg", "webp"], rates=[20, 80],
                            metrics=["psnr", "ms-ssim"], out=out, workers=0))
    assert report.done == 12 and report.failed == 0
    return out


def test_rd_points_are_means_over_images(finished_run):
    from bench.analysis.rd_points import rd_points
    store = Store(finished_run)
    rows = store.frame()
    points = rd_points(store)
    assert len(points) == 4 and set(points["n_images"]) == {3}
    jpeg20 = rows[(rows.codec == "jpeg") & (rows.rate == 20)]
    p = points[(points.codec == "jpeg") & (points.setting == "quality=20")].iloc[0]
    assert p["bpp"] == pytest.approx(jpeg20["bpp"].mean(), rel=1e-12)
    assert p["psnr"] == pytest.approx(jpeg20["psnr"].mean(), rel=1e-12)
    mse = 255 ** 2 * 10 ** (-jpeg20["psnr"].to_numpy() / 10)
    assert p["psnr_mse"] == pytest.approx(10 * math.log10(255 ** 2 / mse.mean()), rel=1e-12)
    assert p["psnr_mse"] <= p["psnr"]          # Jensen: PSNR of the mean MSE is never higher
    # bpp of each row is 8 * file bytes / pixels
    for _, r in jpeg20.iterrows():
        assert r["bpp"] == 8 * (finished_run / r["bitstream_path"]).stat().st_size / (r["height"] * r["width"])


def test_results_and_export_commands(finished_run, env, tmp_path):
    res = run_cli(["results", "--out", str(finished_run)], env)
    assert res.returncode == 0, res.stderr
    assert "quality=20" in res.stdout and "psnr_mse" in res.stdout and "ms-ssim" in res.stdout

    csv = run_cli(["export", "--out", str(finished_run), "--format", "csv"], env)
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert len(frame) == 12
    for col in ("dataset", "image", "codec", "rate", "bytes", "bpp", "encode_s", "decode_s", "psnr", "ms-ssim",
                "bitstream_path", "recon_path"):
        assert col in frame.columns
    assert all(pd.notna(frame["bitstream_path"]))

    pq = tmp_path / "rows.parquet"
    assert run_cli(["export", "--out", str(finished_run), "--format", "parquet", "-o", str(pq)], env).returncode == 0
    pq_frame = pd.read_parquet(pq)
    assert list(pq_frame.columns) == list(frame.columns)
    assert pq_frame["bytes"].tolist() == frame["bytes"].tolist() and pq_frame["image"].tolist() == frame["image"].tolist()

    js = run_cli(["export", "--out", str(finished_run), "--format", "compressai-json", "--codecs", "webp"], env)
    data = json.loads(js.stdout)
    assert data["name"] == "webp" and len(data["results"]["bpp"]) == 2
    assert np.all(np.diff(data["results"]["bpp"]) > 0) and len(data["results"]["psnr-rgb"]) == 2
    assert "ms-ssim-rgb" in data["results"]
