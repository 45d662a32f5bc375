"""Importing published RD curves (CompressAI-style JSON, bpp+metric CSV) as reference codecs."""

import csv
import io
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.analysis.bd_tables import build_tables
from bench.analysis.bdrate import bd_rate
from bench.analysis.curves import curves, load_points
from bench.analysis.rd_points import metric_meta
from bench.analysis.references import (
    import_reference,
    read_reference_file,
    reference_points,
    reference_sources,
)
from bench.cli import app
from bench.errors import BenchError
from bench.paths import REFERENCE_RESULTS_DIR
from bench.store import Store

from .conftest import job_row

CURVE = {
    "name": "toy-codec",
    "description": "made up for the test",
    "results": {
        "bpp": [0.1, 0.2, 0.4, 0.8],
        "psnr-rgb": [27.0, 29.5, 32.0, 35.0],
        "ms-ssim-rgb": [0.90, 0.94, 0.97, 0.985],
        "encoding_time": [0.1, 0.1, 0.2, 0.2],
    },
}


def write_json(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_compressai_json_round_trip(tmp_path):
    src = write_json(tmp_path / "kodak" / "toy.json", CURVE)
    store = Store(tmp_path / "out")
    got = import_reference(store, src)
    assert got.name == "toy-codec" and got.dataset_hint == "kodak"     # dataset from the folder name
    pts = reference_points(store)
    assert list(pts["codec"].unique()) == ["toy-codec"]
    assert pts["bpp"].tolist() == CURVE["results"]["bpp"]
    assert pts["psnr"].tolist() == CURVE["results"]["psnr-rgb"]
    assert pts["ms-ssim"].tolist() == CURVE["results"]["ms-ssim-rgb"]
    assert "encoding_time" not in pts and set(pts["bpp_source"]) == {"reference"}
    (src_info,) = reference_sources(store)
    assert src_info["source"] == str(src) and len(src_info["source_sha256"]) == 64


def test_old_compressai_keys_map_to_the_same_columns(tmp_path):
    doc = {"name": "old", "results": {"bpp": [0.1, 0.2], "psnr": [30.0, 32.0], "ms-ssim": [0.9, 0.95]}}
    c = read_reference_file(write_json(tmp_path / "old.json", doc))
    assert set(c.metrics) == {"psnr", "ms-ssim"}


def test_csv_import_and_reimport_replaces(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("bpp,psnr,lpips\n0.1,28,0.4\n0.2,30,0.3\n0.4,32,0.2\n0.8,34,0.1\n")
    store = Store(tmp_path / "out")
    import_reference(store, path, dataset="kodak")
    pts = reference_points(store, dataset="kodak")
    assert pts["codec"].unique().tolist() == ["mine"] and pts["lpips"].tolist() == [0.4, 0.3, 0.2, 0.1]
    path.write_text("bpp,psnr\n0.1,29\n0.2,31\n0.4,33\n0.8,35\n")
    import_reference(store, path, dataset="kodak")
    pts = reference_points(store, dataset="kodak")
    assert len(pts) == 4 and pts["psnr"].tolist() == [29, 31, 33, 35]
    import_reference(store, path, dataset="kodak", name="renamed")
    assert set(reference_points(store)["codec"]) == {"mine", "renamed"}


@pytest.mark.parametrize("doc, message", [
    ({"name": "x", "results": {"bpp": [0.1, 0.2], "psnr": [30.0]}}, "'psnr' has 1 values but bpp has 2"),
    ({"name": "x", "results": {"psnr": [30.0]}}, "not a CompressAI-style results file"),
    ({"results": {"bpp": [0.1], "psnr": [30.0]}}, "no \"name\" field; pass --name"),
    ({"name": "x", "results": {"bpp": [0.1], "psnr": ["high"]}}, "'psnr' holds a value that is not a number"),
])
def test_bad_json_is_a_clear_error(tmp_path, doc, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_reference_file(write_json(tmp_path / "bad.json", doc))


def test_other_bad_inputs(tmp_path):
    (tmp_path / "x.txt").write_text("bpp\n")
    with pytest.raises(BenchError, match="unknown reference format"):
        read_reference_file(tmp_path / "x.txt")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(BenchError, match="not valid JSON"):
        read_reference_file(tmp_path / "broken.json")
    (tmp_path / "nobpp.csv").write_text("rate,psnr\n1,30\n")
    with pytest.raises(BenchError, match="needs a 'bpp' column"):
        read_reference_file(tmp_path / "nobpp.csv")


def test_name_colliding_with_a_run_codec_is_refused(tmp_path):
    store = Store(tmp_path / "out")
    store.put_job(job_row(key="k1", dataset="kodak", image="a", codec="toy-codec", status="ok"))
    with pytest.raises(BenchError, match="also a codec run.*--name"):
        import_reference(store, write_json(tmp_path / "kodak" / "toy.json", CURVE))


SHIPPED = sorted((REFERENCE_RESULTS_DIR / "kodak").glob("*.json"))


def test_shipped_reference_curves_import_and_work_as_anchor(tmp_path):
    assert len(SHIPPED) == 4
    store = Store(tmp_path / "out")
    for f in SHIPPED:
        import_reference(store, f)
    points = load_points(store, dataset="kodak")
    assert sorted(points["codec"].unique()) == ["JPEG", "VTM", "WebP", "bmshj2018-hyperprior"]
    counts = points.groupby("codec").size().to_dict()
    assert counts == {"JPEG": 19, "VTM": 8, "WebP": 19, "bmshj2018-hyperprior": 8}

    (table,) = build_tables(points, "JPEG", lambda c: metric_meta(store, c), metrics=["psnr", "ms-ssim"])
    assert table.columns == ["psnr", "ms-ssim"]
    # what the table holds is BD-rate of the source arrays, unchanged by the store round trip
    jpeg = json.loads((REFERENCE_RESULTS_DIR / "kodak" / "compressai-jpeg.json").read_text())["results"]
    vtm = json.loads((REFERENCE_RESULTS_DIR / "kodak" / "compressai-vtm.json").read_text())["results"]
    row = next(r for r in table.rows if r.label == "VTM")
    direct = bd_rate(jpeg["bpp"], jpeg["psnr-rgb"], vtm["bpp"], vtm["psnr"])
    assert row.cells[0].value == pytest.approx(direct.value, rel=1e-12)
    # VTM and a learned codec beat JPEG at equal PSNR on Kodak (signs, not magnitudes, asserted)
    for label in ("VTM", "bmshj2018-hyperprior"):
        assert next(r for r in table.rows if r.label == label).cells[0].value < 0
    c = curves(points, "psnr", dataset="kodak")
    assert all(cur.reference for cur in c)


def test_import_and_bdrate_commands(tmp_path):
    runner = CliRunner()
    src = write_json(tmp_path / "kodak" / "toy.json", CURVE)
    other = dict(CURVE, name="better", results={"bpp": [x * 0.8 for x in CURVE["results"]["bpp"]],
                                                 "psnr-rgb": CURVE["results"]["psnr-rgb"]})
    src2 = write_json(tmp_path / "kodak" / "better.json", other)
    out = tmp_path / "out"
    res = runner.invoke(app, ["import", str(src), str(src2), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "reference 'toy-codec' on kodak: psnr (4 points), ms-ssim (4 points)" in res.output
    res = runner.invoke(app, ["bdrate", "--anchor", "toy-codec", "--out", str(out), "--format", "csv",
                              "--metrics", "psnr"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    better = next(r for r in rows if r["codec"] == "better")
    assert float(better["value"]) == pytest.approx(-20.0, abs=1e-6)     # 0.8x the bits at equal PSNR
    assert next(r for r in rows if r["codec"] == "toy-codec")["value"] == "0.000000"
    res = runner.invoke(app, ["bdrate", "--anchor", "nosuch", "--out", str(out)])
    assert isinstance(res.exception, BenchError) and "anchor 'nosuch' has no results" in str(res.exception)
    assert not math.isnan(float(better["overlap"]))
