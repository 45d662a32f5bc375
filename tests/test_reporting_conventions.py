"""Reporting conventions (issue 14): corpus bpp beside mean bpp, FID/KID from too few
patches marked, and BD numbers over one common range for a whole table.

Stores are fabricated through the Store API with known bytes, sizes and values, so every
expected number below is computed by hand from those inputs.
"""

from __future__ import annotations

import json
import math
from html import unescape

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.analysis import bdrate
from bench.analysis.bd_tables import build_tables, render
from bench.analysis.curves import add_labels, load_points
from bench.analysis.export import compressai_json
from bench.analysis.rd_points import metric_meta, rd_points
from bench.analysis.references import read_compressai_json
from bench.cli import app
from bench.errors import BenchError
from bench.report.builder import ReportOptions, build_report
from bench.store import DatasetMetricRow, MetricRow, Store

from .conftest import job_row

UNSTABLE = "fid from 192 patches < 2048 features: unstable; NeuralCompression does not report Kodak FID"


def _job(store, dataset, codec, q, image, h, w, n_bytes, psnr):
    key = f"{dataset}-{codec}-{q}-{image}"
    store.put_job(job_row(key=key, dataset=dataset, image=image, image_hash=image, image_path=f"/x/{image}.png",
                          height=h, width=w, codec=codec, config_hash=f"cfg-{codec}", rate_param="quality", rate=q,
                          setting=f"quality={q}", status="ok", bytes=n_bytes, bpp=8 * n_bytes / (h * w),
                          bpp_source="measured"))
    store.put_metrics([MetricRow(key, "psnr", psnr)])


# --- corpus bpp -----------------------------------------------------------------------

@pytest.fixture()
def two_sizes(tmp_path):
    """One codec, one rate point, two images of different size: 64x64 at 2048 bytes (4 bpp)
    and 128x256 at 4096 bytes (1 bpp)."""
    store = Store(tmp_path / "out")
    _job(store, "toy", "jpeg", 50, "small", 64, 64, 2048, 30.0)
    _job(store, "toy", "jpeg", 50, "large", 128, 256, 4096, 40.0)
    store.close()
    return tmp_path / "out"


def test_corpus_bpp_is_total_bits_over_total_pixels(two_sizes, tmp_path):
    store = Store(two_sizes, create=False)
    (p,) = rd_points(store).to_dict("records")
    assert p["bpp"] == 2.5                                  # (4 + 1) / 2
    assert p["bpp_corpus"] == pytest.approx(8 * (2048 + 4096) / (64 * 64 + 128 * 256), rel=1e-15)
    assert p["bpp_corpus"] == pytest.approx(4 / 3, rel=1e-15)
    (entry,) = compressai_json(rd_points(store))
    assert entry["results"]["bpp"] == [2.5] and entry["bpp_corpus"] == [pytest.approx(4 / 3, rel=1e-15)]
    assert "bpp_corpus" not in entry["results"]            # a re-import must not read it as a metric
    assert "total bits / total pixels" in entry["bpp_definitions"]["bpp_corpus"]
    exported = tmp_path / "jpeg.json"
    exported.write_text(json.dumps(entry))
    assert "bpp_corpus" not in read_compressai_json(exported).metrics       # reads back as metric curves only
    store.close()


def test_results_command_labels_both_bpp(two_sizes):
    runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})
    res = runner.invoke(app, ["results", "--out", str(two_sizes)])
    assert res.exit_code == 0, res.output
    assert "bpp (mean)" in res.output and "bpp (corpus)" in res.output
    row = next(line for line in res.output.splitlines() if "quality=50" in line)
    assert "2.5000" in row and "1.3333" in row
    assert "total bits / total pixels (CLIC)" in " ".join(res.output.split())
    csv = runner.invoke(app, ["results", "--out", str(two_sizes), "--format", "csv"])
    frame = pd.read_csv(pd.io.common.StringIO(csv.output))
    assert frame["bpp_corpus"].iloc[0] == pytest.approx(4 / 3) and frame["bpp"].iloc[0] == 2.5


# --- FID from too few patches ---------------------------------------------------------

QS = (20, 40, 60, 80)


@pytest.fixture()
def fid_store(tmp_path):
    """Two datasets (FID from 192 and from 4096 patches), codecs a and b, four rate points
    each, one 64x64 image; b spends 20% fewer bytes for the same quality."""
    store = Store(tmp_path / "out")
    for dataset, n_patches in (("small", 192), ("big", 4096)):
        for codec, scale in (("a", 1.0), ("b", 0.8)):
            for i, q in enumerate(QS):
                _job(store, dataset, codec, q, "img", 64, 64, int(1000 * (i + 1) * scale), 28.0 + 2 * i)
                store.put_dataset_metric(DatasetMetricRow(
                    dataset, codec, f"cfg-{codec}", f"quality={q}", "", "fid", 40.0 - 5 * i, 1,
                    json.dumps({"n_patches": n_patches, "n_ref_patches": n_patches, "n_images": 1})))
    store.close()
    return tmp_path / "out"


def test_points_carry_patch_counts(fid_store):
    store = Store(fid_store, create=False)
    points = rd_points(store)
    counts = points.groupby("dataset")["fid_n_patches"].unique()
    assert counts["small"].tolist() == [192] and counts["big"].tolist() == [4096]
    # a count is not a metric: no curve, no BD column for it
    tables = build_tables(load_points(store), "a", lambda c: metric_meta(store, c))
    assert all(t.columns == ["psnr", "fid"] for t in tables)
    store.close()


def test_bd_table_marks_fid_only_below_feature_dimension(fid_store):
    store = Store(fid_store, create=False)
    tables = {t.dataset: t for t in build_tables(load_points(store), "a", lambda c: metric_meta(store, c))}
    small, big = render(tables["small"], "md"), render(tables["big"], "md")
    b_small = next(line for line in small.splitlines() if line.startswith("| b |"))
    b_big = next(line for line in big.splitlines() if line.startswith("| b |"))
    # 20% fewer bytes at equal quality: BD-rate -20% on both columns; only FID on 'small' marked
    assert b_small == "| b | -20.00 | -20.00‡ |"
    assert b_big == "| b | -20.00 | -20.00 |"
    assert f"- fid: ‡ {UNSTABLE}" in small and "‡" not in big
    assert "$^\\ddagger$" in render(tables["small"], "latex")
    long = tables["small"].long_frame()
    assert long.loc[(long.codec == "b") & (long.metric == "fid"), "few_patches"].item() is True
    assert long.loc[(long.codec == "b") & (long.metric == "psnr"), "few_patches"].item() is False
    store.close()


def test_results_and_report_mark_unstable_fid(fid_store, tmp_path):
    runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})
    res = runner.invoke(app, ["results", "--out", str(fid_store), "--dataset", "small"])
    assert res.exit_code == 0, res.output
    assert "40.00‡" in res.output and UNSTABLE in " ".join(res.output.split())
    res = runner.invoke(app, ["results", "--out", str(fid_store), "--dataset", "big"])
    assert "40.00" in res.output and "‡" not in res.output
    store = Store(fid_store, create=False)
    html = unescape(build_report(store, tmp_path / "rep", ReportOptions(anchor="a")).read_text())
    store.close()
    assert html.count(f"‡ {UNSTABLE}") == 3       # under the rate points, the small BD-rate and BD-metric tables
    assert ">-20.00‡<" in html and ">40‡<" in html and ">40<" in html   # BD cell; FID point small vs big


# --- common BD range ------------------------------------------------------------------

def _points(curves: dict[str, tuple[list[float], list[float]]]) -> pd.DataFrame:
    rows = []
    for codec, (bpp, psnr) in curves.items():
        for i, (b, v) in enumerate(zip(bpp, psnr)):
            rows.append({"dataset": "toy", "codec": codec, "config_hash": f"cfg-{codec}", "setting": f"q={i}",
                         "mask_set": "", "bpp": b, "bpp_source": "measured", "n_images": 1, "n_errors": 0,
                         "psnr": v})
    return add_labels(pd.DataFrame(rows))


CURVES = {
    "anchor": ([0.10, 0.20, 0.40, 0.80, 1.60], [26.0, 29.0, 32.0, 35.0, 38.0]),
    "wide": ([0.08, 0.16, 0.32, 0.64, 1.28], [27.0, 30.5, 33.5, 36.5, 39.0]),
    "narrow": ([0.15, 0.25, 0.45, 0.90], [28.5, 30.5, 33.0, 36.0]),
    "apart": ([4.0, 5.0, 6.0, 7.0], [45.0, 46.0, 47.0, 48.0]),     # meets no other curve
}


def _by_hand(kind: str, anchor, test, lo: float, hi: float) -> float:
    """BD over [lo, hi] with scipy's PCHIP, written out independently of bench.analysis.bdrate."""
    from scipy.interpolate import PchipInterpolator
    (ra, qa), (rt, qt) = anchor, test
    if kind == "rate":
        ia = PchipInterpolator(qa, np.log(ra)).integrate(lo, hi)
        it = PchipInterpolator(qt, np.log(rt)).integrate(lo, hi)
        return (math.exp((it - ia) / (hi - lo)) - 1) * 100
    ia = PchipInterpolator(np.log(ra), qa).integrate(math.log(lo), math.log(hi))
    it = PchipInterpolator(np.log(rt), qt).integrate(math.log(lo), math.log(hi))
    return (it - ia) / (math.log(hi) - math.log(lo))


@pytest.mark.parametrize("kind", ["rate", "metric"])
def test_common_range_is_the_intersection_and_every_cell_uses_it(kind):
    points = _points(CURVES)
    def meta(column):
        return {"higher_is_better": True, "label": column}
    (common,) = build_tables(points, "anchor", meta, kind=kind, bd_range="common")
    (pair,) = build_tables(points, "anchor", meta, kind=kind)
    use = 1 if kind == "rate" else 0                          # BD-rate integrates over PSNR, BD-metric over bpp
    ends = [(min(CURVES[c][use]), max(CURVES[c][use])) for c in ("anchor", "wide", "narrow")]
    lo, hi = max(e[0] for e in ends), min(e[1] for e in ends)
    assert (lo, hi) == ((28.5, 36.0) if kind == "rate" else (0.15, 0.90))
    assert common.ranges["psnr"] == pytest.approx((lo, hi), rel=1e-12)
    assert common.excluded["psnr"] == ["apart"]
    rows = {r.label: r.cells[0] for r in common.rows}
    pair_rows = {r.label: r.cells[0] for r in pair.rows}
    for codec in ("wide", "narrow"):
        want = _by_hand(kind, CURVES["anchor"], CURVES[codec], lo, hi)
        assert rows[codec].value == pytest.approx(want, rel=1e-9)
        assert rows[codec].interval == pytest.approx((lo, hi), rel=1e-12)
    # per pair, 'wide' averages over its own (larger) overlap: a different number
    assert pair_rows["wide"].value != pytest.approx(rows["wide"].value, rel=1e-3)
    assert pair_rows["narrow"].value == pytest.approx(rows["narrow"].value, rel=1e-9)   # narrow sets the range
    assert not rows["apart"].ok and "no overlap with the common range" in rows["apart"].reason
    md = render(common, "md")
    assert "common range" in md.splitlines()[0] and "per-pair ranges" in render(pair, "md").splitlines()[0]
    unit = " bpp" if kind == "metric" else ""
    assert f"psnr [{lo:.4g}, {hi:.4g}]{unit}" in md
    assert "left out of the common range (no overlap with the anchor's range): apart" in md
    long = common.long_frame().set_index("codec")
    assert long.loc["wide", "range"] == "common" and long.loc["wide", "range_lo"] == pytest.approx(lo)


def test_interval_restricts_bd_rate_and_lower_is_better_metrics():
    ra, qa = CURVES["anchor"]
    rt, qt = CURVES["wide"]
    r = bdrate.bd_rate(ra, qa, rt, qt, interval=(30.0, 34.0))
    assert r.value == pytest.approx(_by_hand("rate", (ra, qa), (rt, qt), 30.0, 34.0), rel=1e-9)
    # a lower-is-better metric (here -PSNR) takes its interval in its own units
    neg = bdrate.bd_rate(ra, [-v for v in qa], rt, [-v for v in qt], higher_is_better=False, interval=(-34.0, -30.0))
    assert neg.value == pytest.approx(r.value, rel=1e-12) and neg.interval == pytest.approx((-34.0, -30.0))
    assert bdrate.integration_range("rate", ra, [-v for v in qa], higher_is_better=False) == (-38.0, -26.0)
    outside = bdrate.bd_rate(ra, qa, rt, qt, interval=(40.0, 41.0))
    assert not outside.ok and outside.reason.startswith("no overlap with the range [40, 41]")


def test_bdrate_command_range_option(fid_store):
    runner = CliRunner()
    res = runner.invoke(app, ["bdrate", "--anchor", "a", "--out", str(fid_store), "--range", "common",
                              "--dataset", "big"])
    assert res.exit_code == 0, res.output
    assert "anchor a, pchip, common range" in res.output and "| b | -20.00 | -20.00 |" in res.output
    assert "common range in metric values (BD-rate integrates over quality): psnr [28, 34]; fid [25, 40]" \
        in res.output
    res = runner.invoke(app, ["bdrate", "--anchor", "a", "--out", str(fid_store), "--range", "widest"])
    assert isinstance(res.exception, BenchError) and "unknown BD range 'widest'" in str(res.exception)
