"""`bench import-recons`: reconstructions written by another tool give the same stored rows
and metrics as running the codec through `bench run`.

The "other tool" is a script run in its own process: it encodes Kodak images with Pillow's
JPEG exactly as the suite's `jpeg` codec does (integer quality = libjpeg's IJG tables,
4:2:0, optimized Huffman tables), keeps the .jpg files as bitstreams and decodes them to
PNG. So bytes, bpp, reconstruction pixels and PSNR must match `bench run -c jpeg` exactly.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.pipeline.import_recons import read_bytes_csv

from .conftest import kodak_or_skip, run_cli

IMAGES = ("kodim01", "kodim02", "kodim03")
QUALITIES = (30, 70)

OTHER_TOOL = """
import io, sys
from pathlib import Path
from PIL import Image
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for q in sys.argv[3].split(","):
    folder = dst / q
    folder.mkdir(parents=True)
    for p in sorted(src.glob("*.png")):
        buf = io.BytesIO()
        Image.open(p).convert("RGB").save(buf, format="JPEG", quality=int(q), subsampling="4:2:0", optimize=True)
        (folder / (p.stem + ".jpg")).write_bytes(buf.getvalue())
        Image.open(io.BytesIO(buf.getvalue())).convert("RGB").save(folder / (p.stem + ".png"))
"""


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """A 3-image Kodak folder and the other tool's output for it: DIR/<quality>/<stem>.{jpg,png}."""
    kodak = kodak_or_skip()
    base = tmp_path_factory.mktemp("import_recons")
    ds = base / "kodak3"
    ds.mkdir()
    for name in IMAGES:
        shutil.copy(kodak / f"{name}.png", ds)
    script = base / "other_tool.py"
    script.write_text(OTHER_TOOL)
    recons = base / "released"
    subprocess.run([sys.executable, str(script), str(ds), str(recons), ",".join(map(str, QUALITIES))], check=True)
    return ds, recons


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))


def _copy(src: Path, dst: Path, keep_bitstreams: bool = True) -> Path:
    shutil.copytree(src, dst, ignore=None if keep_bitstreams else shutil.ignore_patterns("*.jpg"))
    return dst


def _rows(out: Path, codec: str) -> dict[tuple[str, str], dict]:
    """(setting, image) -> job columns plus its psnr value."""
    con = sqlite3.connect(out / "bench.sqlite")
    con.row_factory = sqlite3.Row
    try:
        q = ("SELECT j.*, m.value AS psnr FROM jobs j LEFT JOIN metrics m ON m.key = j.key AND m.metric = 'psnr' "
             "WHERE j.codec = ?")
        return {(r["setting"], r["image"]): dict(r) for r in con.execute(q, (codec,))}
    finally:
        con.close()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def _invoke(args: list[str]):
    res = CliRunner().invoke(app, args)
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def test_imported_recons_match_bench_run(material, tmp_path):
    ds, released = material
    out = tmp_path / "out"
    res = _invoke(["run", "-c", "jpeg", "-r", ",".join(map(str, QUALITIES)), "-d", str(ds), "--out", str(out),
                   "-m", "psnr", "--device", "cpu", "-j", "0"])
    assert res.exit_code == 0, res.output
    res = _invoke(["import-recons", str(released), "--codec", "jpeg-released", "-d", str(ds), "--out", str(out),
                   "-m", "psnr", "--device", "cpu"])
    assert res.exit_code == 0, res.output

    ran, imported = _rows(out, "jpeg"), _rows(out, "jpeg-released")
    assert len(ran) == len(imported) == len(IMAGES) * len(QUALITIES)
    for q in QUALITIES:
        for name in IMAGES:
            r, i = ran[(f"quality={q}", name)], imported[(f"point={q}", name)]
            assert i["status"] == "ok" and i["bpp_source"] == "files" and i["rate"] == q
            assert i["bytes"] == r["bytes"] == (released / str(q) / f"{name}.jpg").stat().st_size
            assert i["bpp"] == r["bpp"] == 8 * r["bytes"] / (768 * 512)
            assert i["recon_hash"] == r["recon_hash"]          # the same decoded pixels
            assert i["psnr"] == r["psnr"] and 25 < i["psnr"] < 40
            # artifacts live in the results folder like a run's: same recon file, bitstream copied
            assert i["recon_path"] == r["recon_path"] and (out / i["recon_path"]).is_file()
            assert (out / i["bitstream_path"]).read_bytes() == (released / str(q) / f"{name}.jpg").read_bytes()
    # the PSNR the pipeline stored is the one numpy gives on the files the other tool wrote
    orig = np.asarray(Image.open(ds / "kodim01.png").convert("RGB"))
    rec = np.asarray(Image.open(released / "30" / "kodim01.png").convert("RGB"))
    assert imported[("point=30", "kodim01")]["psnr"] == pytest.approx(_psnr(orig, rec), abs=1e-4)

    con = sqlite3.connect(out / "bench.sqlite")
    describe = con.execute("SELECT describe FROM codec_configs WHERE codec='jpeg-released'").fetchone()[0]
    con.close()
    assert '"class": "imported"' in describe and '"imported_from": "released"' in describe
    assert '"bpp_source": "files"' in describe

    # BD-rate against the run codec: the same curve, so 0 %
    res = _invoke(["bdrate", "--out", str(out), "-a", "jpeg", "-m", "psnr", "--min-points", "2", "-f", "csv"])
    assert res.exit_code == 0, res.output
    table = [r for r in csv.DictReader(res.output.splitlines()) if r["codec"] == "jpeg-released"]
    assert len(table) == 1 and float(table[0]["value"]) == pytest.approx(0.0, abs=1e-9)

    # importing again: same keys, nothing rewritten
    res = _invoke(["import-recons", str(released), "--codec", "jpeg-released", "-d", str(ds), "--out", str(out),
                   "-m", "psnr", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "0 stored, 6 unchanged" in " ".join(res.output.split())
    again = _rows(out, "jpeg-released")
    assert {k: (v["key"], v["created"], v["run_id"], v["psnr"]) for k, v in again.items()} == \
           {k: (v["key"], v["created"], v["run_id"], v["psnr"]) for k, v in imported.items()}


def test_declared_byte_counts_from_csv(material, tmp_path, env):
    ds, released = material
    recons = _copy(released, tmp_path / "stablecodec", keep_bitstreams=False)
    table = tmp_path / "bytes.csv"
    declared = {("30", "kodim01"): 5000, ("30", "kodim02"): 4000, ("30", "kodim03.png"): 4500,
                ("70", "kodim01"): 9000, ("70", "kodim02"): 8000}        # kodim03 at 70: not declared
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "rate", "bytes"])
        w.writerows([img, rate, n] for (rate, img), n in declared.items())
    out = tmp_path / "out"
    res = run_cli(["import-recons", str(recons), "--codec", "stablecodec", "-d", str(ds), "--out", str(out),
                   "--bytes", str(table), "-m", "psnr", "--device", "cpu"], env=env)
    assert res.returncode == 1, res.stderr                 # one image lacks its size: stored as failed, listed
    err = " ".join(res.stderr.split())
    assert "missing stablecodec point=70 kodim03: --bytes bytes.csv has no row for image kodim03 at rate 70" in err

    rows = _rows(out, "stablecodec")
    assert rows[("point=70", "kodim03")]["status"] == "error"
    ok = {k: v for k, v in rows.items() if v["status"] == "ok"}
    assert len(ok) == 5
    for (rate, img), n in declared.items():
        row = ok[(f"point={rate}", Path(img).stem)]
        assert row["bpp_source"] == "declared" and row["bitstream_path"] is None
        assert row["bytes"] == n and row["bpp"] == 8 * n / (768 * 512)
        orig = np.asarray(Image.open(ds / f"{Path(img).stem}.png").convert("RGB"))
        rec = np.asarray(Image.open(recons / rate / f"{Path(img).stem}.png").convert("RGB"))
        assert row["psnr"] == pytest.approx(_psnr(orig, rec), abs=1e-4)


def test_size_mismatch_is_one_line_naming_the_file(material, tmp_path, env):
    ds, released = material
    recons = _copy(released, tmp_path / "perco")
    bad = recons / "70" / "kodim02.png"
    Image.open(bad).crop((0, 0, 760, 512)).save(bad)
    out = tmp_path / "out"
    res = run_cli(["import-recons", str(recons), "--codec", "perco", "-d", str(ds), "--out", str(out),
                   "-m", "psnr", "--device", "cpu"], env=env)
    assert res.returncode == 2
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: reconstruction perco/70/kodim02.png is 760x512 (WxH) but original "
                               "kodim02 is 768x512; crop or pad")
    assert not (out / "bench.sqlite").exists()         # checked before anything is written


def test_missing_recon_reported_and_extra_files_ignored(material, tmp_path):
    ds, released = material
    recons = _copy(released, tmp_path / "diffeic")
    (recons / "30" / "kodim03.png").unlink()
    (recons / "70" / "kodim02.jpg").unlink()                 # a reconstruction without its bitstream
    (recons / "30" / "kodim99.png").write_bytes((recons / "30" / "kodim01.png").read_bytes())
    (recons / "README.txt").write_text("released reconstructions")
    out = tmp_path / "out"
    res = _invoke(["import-recons", str(recons), "--codec", "diffeic", "-d", str(ds), "--out", str(out),
                   "-m", "psnr", "--device", "cpu"])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "missing diffeic point=30 kodim03: no reconstruction diffeic/30/kodim03.png" in text
    assert ("missing diffeic point=70 kodim02: no bitstream diffeic/70/kodim02.<ext> beside kodim02.png; add it or "
            "declare sizes with --bytes CSV") in text
    assert "diffeic/30: ignored 1 file(s) that name no image of the dataset: kodim99.png" in text
    assert "ignored 1 file(s) outside the rate-point folders: README.txt" in text
    rows = _rows(out, "diffeic")
    failed = {("point=30", "kodim03"), ("point=70", "kodim02")}
    assert len(rows) == 6 and {k for k, v in rows.items() if v["status"] == "error"} == failed
    assert all(v["status"] == "ok" and v["psnr"] > 25 for k, v in rows.items() if k not in failed)


def test_bad_bytes_csv_names_the_fix(tmp_path):
    f = tmp_path / "sizes.csv"
    f.write_text("file,point,size\nkodim01,1,100\n")
    with pytest.raises(BenchError, match=r"no column image, rate, bytes .* needs a header image,rate,bytes"):
        read_bytes_csv(f)
    f.write_text("image,rate,bytes\nkodim01,1,-3\n")
    with pytest.raises(BenchError, match=r"line 2: need .* positive whole number of bytes"):
        read_bytes_csv(f)
    f.write_text("image,rate,bytes\nkodim01.png,1.0,100\nkodim02,q1,7\n")
    assert read_bytes_csv(f) == {("1", "kodim01"): 100, ("q1", "kodim02"): 7}
