"""RD curves from a store, BD tables, plots and the HTML report (incl. a Chromium screenshot).

The store is filled through the Store API with real JPEG/WebP encodes of two small
synthetic images, per-image PSNR (full, ROI, background) computed here, and stored
reconstructions, so every number below has a known source.
"""

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.analysis.bd_tables import build_tables, render, select_columns
from bench.analysis.curves import curves, load_points
from bench.analysis.plots import save_plots
from bench.analysis.rd_points import metric_meta
from bench.cli import app
from bench.errors import BenchError
from bench.image import load_rgb, pixel_sha256
from bench.metrics.psnr import PSNR
from bench.report.builder import ReportOptions, build_report, check_links
from bench.store import MetricRow, Store

from .conftest import job_row

ROOT = Path(__file__).resolve().parent.parent
QUALITIES = (10, 30, 50, 70, 90)
CODECS = {"jpeg": "JPEG", "webp": "WEBP"}
H, W = 128, 160


def _image(index: int) -> np.ndarray:
    """A real photograph shipped with scikit-image, resized to W x H."""
    import skimage.data
    photo = (skimage.data.astronaut, skimage.data.coffee)[index]()
    return np.asarray(Image.fromarray(photo).resize((W, H), Image.Resampling.LANCZOS))


def _psnr(a: np.ndarray, b: np.ndarray, w: np.ndarray | None = None) -> float:
    d2 = (a.astype(float) - b.astype(float)) ** 2
    mse = d2.mean() if w is None else (d2 * w[..., None]).sum() / (w.sum() * 3)
    return float(10 * np.log10(255.0 ** 2 / mse))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """Two images x {jpeg, webp, est (jpeg bytes, rate marked estimated)} x 5 qualities, with a mask set."""
    root = tmp_path_factory.mktemp("store")
    data, masks = root / "data", root / "masks"
    data.mkdir()
    masks.mkdir()
    store = Store(root / "out")
    store.start_run("r1", ["bench", "run", "--dataset", "toy"], {"machine": {"python": sys.version.split()[0]},
                                                                  "libraries": {"pillow": Image.__version__}})
    store.put_metric_info("psnr", PSNR.metadata(), {"bench": "test", "weights:toy-net": "ab" * 32})
    mask = np.zeros((H, W), np.float32)
    mask[32:96, 40:120] = 1.0
    expected = {}
    for i in range(2):
        img = _image(i)
        name = f"img{i}"
        Image.fromarray(img).save(data / f"{name}.png")
        Image.fromarray((mask * 255).astype(np.uint8)).save(masks / f"{name}.png")
        for codec in ("jpeg", "webp", "est"):
            fmt = CODECS.get(codec, "JPEG")
            store.put_codec_config(f"cfg-{codec}", codec, {"name": codec, "options": {}, "versions": {"pillow": "x"},
                                                           "bpp_source": "estimated" if codec == "est" else "measured"})
            for q in QUALITIES:
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format=fmt, quality=q)
                recon = load_rgb(io.BytesIO(buf.getvalue()))
                rel = f"artifacts/{codec}_{q}_{name}.png"
                (root / "out" / "artifacts").mkdir(exist_ok=True)
                Image.fromarray(recon).save(root / "out" / rel)
                key = f"{codec}-{q}-{name}"
                bpp = 8 * len(buf.getvalue()) / (H * W)
                store.put_job(job_row(**{"key": key, "run_id": "r1", "dataset": "toy", "image": name,
                               "image_hash": pixel_sha256(img), "image_path": str(data / f"{name}.png"),
                               "height": H, "width": W, "codec": codec, "config_hash": f"cfg-{codec}",
                               "rate_param": "quality", "rate": q, "setting": f"quality={q}", "mask_set": "toy-masks",
                               "mask_hash": "m", "mask_path": str(masks / f"{name}.png"), "status": "ok",
                               "bytes": len(buf.getvalue()), "bpp": bpp,
                               "bpp_source": "estimated" if codec == "est" else "measured", "recon_path": rel}))
                vals = {"psnr": _psnr(img, recon), "roi-psnr": _psnr(img, recon, mask),
                        "bg-psnr": _psnr(img, recon, 1 - mask)}
                store.put_metrics([MetricRow(key, m, v) for m, v in vals.items()])
                expected.setdefault((codec, q), []).append((bpp, vals))
    # one failed job: webp on a third image whose encode "failed"
    store.put_job(job_row(key="webp-50-img2", run_id="r1", dataset="toy", image="img2", codec="webp",
                          config_hash="cfg-webp", rate_param="quality", rate=50, setting="quality=50",
                          mask_set="toy-masks", status="error", error="CodecError: synthetic failure"))
    store.close()
    return root / "out", expected


@pytest.fixture()
def store(store_dir):
    s = Store(store_dir[0], create=False)
    yield s
    s.close()


def meta_of(store):
    return lambda c: metric_meta(store, c)


def test_curves_are_means_over_images(store, store_dir):
    _, expected = store_dir
    points = load_points(store)
    (jpeg,) = [c for c in curves(points, "roi-psnr") if c.label == "jpeg"]
    assert jpeg.mask_set == "toy-masks" and not jpeg.reference and not jpeg.estimated
    want_bpp = [np.mean([b for b, _ in expected[("jpeg", q)]]) for q in QUALITIES]
    want_val = [np.mean([v["roi-psnr"] for _, v in expected[("jpeg", q)]]) for q in QUALITIES]
    order = np.argsort(want_bpp)
    np.testing.assert_allclose(jpeg.bpp, np.array(want_bpp)[order], rtol=1e-12)
    np.testing.assert_allclose(jpeg.value, np.array(want_val)[order], rtol=1e-12)
    (est,) = [c for c in curves(points, "psnr") if c.label == "est"]
    assert est.estimated


def test_bd_table_columns_anchor_and_estimated_rows(store):
    points = load_points(store)
    (table,) = build_tables(points, "jpeg", meta_of(store))
    assert table.mask_set == "toy-masks"
    assert table.columns == ["psnr", "roi-psnr", "bg-psnr"]
    rows = {r.label: r for r in table.rows}
    assert table.rows[0].label == "jpeg" and rows["jpeg"].is_anchor
    # same bitstreams as jpeg, only the rate marked estimated: BD-rate exactly 0, flagged
    assert rows["est"].estimated
    assert all(c.value == pytest.approx(0.0, abs=1e-9) for c in rows["est"].cells)
    md = render(table, "md")
    assert "| est (est. rate) | +0.00 | +0.00 | +0.00 |" in md
    assert "| jpeg | anchor | anchor | anchor |" in md
    webp = rows["webp"].cells[0]
    assert webp.ok and np.isfinite(webp.overlap)
    assert rows["webp"].n_errors == 1 and rows["jpeg"].n_errors == 0
    assert "- webp: 1 failed job(s); its points average fewer images than the others" in md


def test_select_columns_without_mask_set_is_full_image_only(store):
    points = load_points(store)
    assert select_columns(points, None, "") == ["psnr"]
    assert select_columns(points, ["psnr"], "toy-masks") == ["psnr", "roi-psnr", "bg-psnr"]


def test_plot_files(store, tmp_path):
    points = load_points(store)
    written = save_plots(points, meta_of(store), tmp_path, lambda d, m: select_columns(points, None, m),
                         formats=("png", "pdf", "svg"), log_x=True)
    (w,) = written
    files = w["files"]
    assert files["pdf"].read_bytes()[:4] == b"%PDF"
    assert b"<svg" in files["svg"].read_bytes()[:2000]
    with Image.open(files["png"]) as im:
        a = np.asarray(im.convert("RGB"))
    assert a.shape[1] > 400 and a.std() > 10
    # one colour per codec (tab10 in label order: est, jpeg, webp); est lies under jpeg (same
    # bitstreams), so jpeg's orange and webp's green are the ones on screen
    for rgb in ((255, 127, 14), (44, 160, 44)):
        assert (np.abs(a.astype(int) - rgb).sum(axis=2) < 40).sum() > 50


@pytest.fixture(scope="module")
def report_html(store_dir, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("report")
    s = Store(store_dir[0], create=False)
    html = build_report(s, out_dir, ReportOptions(anchor="jpeg", gallery_images=["img1"], gallery_bpp=1.0, crop=64))
    s.close()
    return html


def test_report_is_self_contained(report_html):
    text = report_html.read_text()
    assert check_links(report_html) == []
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert any(r.endswith(".png") for r in refs) and any(r.endswith(".pdf") for r in refs)
    assert not any(r.startswith(("http:", "https:", "/")) for r in refs)
    assert "BD-rate against jpeg" in text and "<td class=\"anchor\"" in text
    assert text.count("<figure>") == 1 + 1 + 3       # overview, original, one crop per codec
    assert "CodecError: synthetic failure" in text     # the failed-jobs section
    assert "toy-net=" + "ab" * 32 in text and "bench=test" in text   # weights hash and versions


def test_gallery_picks_rate_point_closest_to_target(report_html, store_dir):
    _, expected = store_dir
    text = report_html.read_text()
    # img1's jpeg point whose bpp is closest to 1.0 (log distance), as captioned
    bpps = {q: expected[("jpeg", q)][1][0] for q in QUALITIES}
    q_best = min(bpps, key=lambda q: abs(np.log(bpps[q] / 1.0)))
    assert f"{bpps[q_best]:.3f} bpp (quality={q_best})" in text
    crop = report_html.parent / "img" / "gallery" / "toy_toy-masks_img1_jpeg.png"
    with Image.open(crop) as im:
        assert im.size == (64, 64)
    # the crop is centred on the ROI (rows 32..96, cols 40..120): box at x=48, y=32
    assert "crop 64x64 at (48, 32)" in text


def test_missing_links_are_found(tmp_path):
    page = tmp_path / "index.html"
    (tmp_path / "a.png").write_bytes(b"x")
    page.write_text('<img src="a.png"><img src="img/b.png"><a href="#top">t</a><a href="https://x.org">x</a>')
    assert check_links(page) == ["img/b.png", "https://x.org (not a local file)"]


def test_commands(store_dir, tmp_path):
    runner = CliRunner()
    out = str(store_dir[0])
    res = runner.invoke(app, ["plot", "--out", out, "--plot-dir", str(tmp_path / "p"), "--formats", "png,svg"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["rd_toy_toy-masks.png", "rd_toy_toy-masks.svg"]
    res = runner.invoke(app, ["bdrate", "--anchor", "jpeg", "--out", out, "--kind", "metric", "--method", "cubic"])
    assert res.exit_code == 0 and "BD-metric" in res.output and "| est (est. rate) | +0 |" in res.output
    res = runner.invoke(app, ["bdrate", "--anchor", "jpeg", "--out", out, "--method", "spline"])
    assert isinstance(res.exception, BenchError) and "unknown BD method 'spline'" in str(res.exception)
    res = runner.invoke(app, ["plot", "--out", out, "--metrics", "psnr,lpips"])
    assert isinstance(res.exception, BenchError) and "no stored values for metric(s) lpips" in str(res.exception)
    res = runner.invoke(app, ["report", "--out", str(tmp_path / "empty")])
    assert isinstance(res.exception, BenchError) and "no results in" in str(res.exception)


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")
def test_report_screenshot_in_headless_chromium(report_html, tmp_path):
    png = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "report_screenshot.py"), str(report_html), str(png),
                           "--size", "1200x1600"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    with Image.open(png) as im:
        a = np.asarray(im.convert("RGB")).astype(int)
    assert a.shape[:2] == (1600, 1200)
    not_white = (np.abs(a - 255).sum(axis=2) > 30).mean()
    assert not_white > 0.05, f"screenshot nearly blank ({not_white:.1%} non-white)"
    # the RD plot rendered: its codec colours (matplotlib tab10) are on screen
    orange = (np.abs(a - (255, 127, 14)).sum(axis=2) < 40).sum()
    green_cells = (np.abs(a - (0xe3, 0xf4, 0xe1)).sum(axis=2) < 6).sum() + \
        (np.abs(a - (0xfb, 0xe5, 0xe1)).sum(axis=2) < 6).sum()
    assert orange > 100, "no plot lines visible"
    assert green_cells > 100, "no coloured BD-rate cells visible"
