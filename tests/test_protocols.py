"""Paper protocols (protocols/*.toml): the three shipped ones name only things the suite has,
bad files fail with one line naming the thing, and `bench run/report --protocol` run a tiny
test-only protocol (2 Kodak images, jpeg/webp, psnr) end to end, listing what is missing
(a codec without its checkpoint, a dataset not downloaded) and running the rest."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.codec import CODECS
from bench.datasets import load_manifests
from bench.errors import BenchError
from bench.metrics import METRICS
from bench.paths import MASKS_DIR
from bench.protocols import load_protocol, protocol_names
from bench.protocols.options import entry_options, parse_codec_options
from bench.protocols.plan import make_plan

from .conftest import KODAK, ROOT, kodak_or_skip, run_cli

PAPERS = ("sde", "roi-diffusion", "cadc")


def _mask_dataset(mask_set: str) -> str:
    import tomllib
    return tomllib.loads((MASKS_DIR / mask_set / "manifest.toml").read_text())["dataset"]


@pytest.mark.parametrize("name", PAPERS)
def test_shipped_protocol_names_only_registered_things(name):
    assert set(PAPERS) <= set(protocol_names())
    p = load_protocol(name)
    manifests = load_manifests()
    codec_names = set(CODECS.names())
    for e in p.codecs:
        assert e.codec in codec_names, e
        cls = CODECS.load(e.codec)
        for r in e.rates:                      # rates are in the codec's own knob and range
            assert cls.check_rate(r) is not None
        assert e.legend
    used_metrics = {m for g in p.runs for m in g.metrics} | {m for f in p.figures for m in f.metrics} | \
        {m for t in p.tables for m in t.metrics}
    assert used_metrics and all(METRICS.canonical(m) == m for m in used_metrics)
    for g in p.runs:
        assert g.dataset in manifests
        assert all(i in {e.id for e in p.codecs} for i in g.codecs)
        if g.masks:
            assert (MASKS_DIR / g.masks).is_dir() and _mask_dataset(g.masks) == g.dataset
    for f in p.figures:
        assert any(g.dataset in f.datasets and g.masks == f.masks for g in p.runs)
    for t in p.tables:
        assert t.anchor[0] in {e.id for e in p.codecs}
    # the paper's own codec is the first entry and takes the user's trained checkpoint
    assert p.codecs[0].codec == name and "checkpoint" in p.codecs[0].requires


def test_shipped_protocols_follow_their_papers():
    sde = load_protocol("sde")
    assert [g.dataset for g in sde.runs] == ["div2k-valid-hr", "clic2020-test", "kodak"]
    kodak = next(g for g in sde.runs if g.dataset == "kodak")
    assert set(kodak.metrics) == {"psnr", "lpips", "musiq", "clipiqa"}          # no FID/KID on Kodak (app. E)
    assert {"fid", "kid"} <= set(sde.runs[0].metrics)
    assert {e.codec for e in sde.codecs} >= {"sde", "vtm", "bpg", "illm"}
    assert [f.id for f in sde.figures] == ["Figure 2", "Figure 8", "Figure 9"]

    roi = load_protocol("roi-diffusion")
    masked = [g for g in roi.runs if g.masks]
    assert [(g.dataset, g.masks, g.metrics) for g in masked] == [("kodak", "kodak-saliency", ("lpips",))]
    fig5 = next(f for f in roi.figures if f.id == "Figure 5")
    assert fig5.regions == ("full", "roi") and fig5.metrics == ("lpips",)
    assert {g.dataset for g in roi.runs} == {"kodak", "clic2022-test"}
    assert roi.entry("ours-repaint").model == "roi-diffusion" and "sampler=repaint" in roi.entry("ours-repaint").options

    cadc = load_protocol("cadc")
    table1 = next(t for t in cadc.tables if t.id == "Table 1")
    assert table1.datasets == ("kodak",) and table1.metrics == ("lpips", "dists") and table1.anchor == ("cadc-iso",)
    fig3 = next(f for f in cadc.figures if f.id == "Figure 3")
    assert fig3.metrics == ("lpips", "dists", "fid", "kid") and len(fig3.datasets) == 3
    assert "fid" not in next(g for g in cadc.runs if g.dataset == "kodak").metrics


def test_codec_option_reaches_entries_that_share_a_model():
    p = load_protocol("roi-diffusion")
    user = parse_codec_options(["roi-diffusion:checkpoint=/ckpt/a", "uddq:checkpoint=/ckpt/u"], p)
    assert entry_options(p.entry("ours-repaint"), user) == ({"sampler": "repaint", "checkpoint": "/ckpt/a"}, True)
    assert entry_options(p.entry("uddq-roi"), user)[0] == {"sampler": "ddim-roi", "checkpoint": "/ckpt/u"}
    assert entry_options(p.entry("hevc-roi"), user) == ({}, False)
    with pytest.raises(BenchError, match="unknown codec entry 'roi-diffusoin' \\(did you mean 'roi-diffusion'"):
        parse_codec_options(["roi-diffusoin:checkpoint=/x"], p)
    with pytest.raises(BenchError, match="must be ID:key=value"):
        parse_codec_options(["roi-diffusion"], p)


def test_plan_lists_what_is_missing_and_runs_the_rest(monkeypatch, tmp_path):
    kodak_or_skip()
    monkeypatch.setenv("BENCH_DATA", str(KODAK.parent))
    p = load_protocol("roi-diffusion")
    plan = make_plan(p, {}, limit_images=2, out=tmp_path)
    lines = [m.line for m in plan.missing]
    assert ("codec roi-diffusion needs checkpoint=DIR: pass --codec-option roi-diffusion:checkpoint=DIR "
            "(train one with `bench train roi-diffusion --config paper --data FOLDER --out DIR`)") in lines
    assert any(line.startswith("codec uddq-roi needs checkpoint=DIR: pass --codec-option uddq:checkpoint=DIR")
               for line in lines)
    if not (KODAK.parent / "clic2022-test").is_dir():
        assert any(line.startswith("dataset clic2022-test not downloaded: bench datasets download clic2022-test")
                   for line in lines)
    if CODECS.load("vtm").unavailable():
        assert any(line.startswith("codec vtm not available here: ") for line in lines)
    # what is here still runs: HEVC-ROI on the 2-image Kodak subset with the saliency masks
    masked = [c for c in plan.calls if c.group.masks == "kodak-saliency"]
    if not CODECS.load("hevc-roi").unavailable():
        assert [(c.entries, c.rates, c.metrics) for c in masked] == [(["hevc-roi"], [32.0, 37.0, 42.0, 47.0], ["lpips"])]
        subset = Path(masked[0].dataset)
        assert subset.name == "kodak" and sorted(f.name for f in subset.iterdir()) == ["kodim01.png", "kodim02.png"]
    # a checkpoint the user names but that is not there stops the run before any work
    with pytest.raises(BenchError, match="codec entry roi-diffusion .*checkpoint /nonexistent"):
        make_plan(p, parse_codec_options(["roi-diffusion:checkpoint=/nonexistent"], p), out=tmp_path)


@pytest.mark.parametrize("edit, message", [
    (("codec = \"jpeg\"", "codec = \"jpg\""), "unknown codec 'jpg' (did you mean 'jpeg'?)"),
    (("metrics = [\"psnr\"]", "metrics = [\"psnrr\"]"), "unknown metric 'psnrr' (did you mean 'psnr'?)"),
    (("dataset = \"kodak\"", "dataset = \"kodakk\""), "unknown dataset 'kodakk' (did you mean 'kodak'?)"),
    (("masks = \"kodak-saliency\"", "masks = \"kodak-sal\""), "unknown ROI mask set 'kodak-sal'"),
    (("anchor = [\"sde\", \"jpeg\"]", "anchor = [\"jpg\"]"), "unknown codec entry in 'anchor' 'jpg'"),
    (("caption = \"BD\"", "captoin = \"BD\""), "tables[0] has unknown key 'captoin'"),
])
def test_bad_protocol_file_is_one_clear_line(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(*edit))
    with pytest.raises(BenchError) as err:
        load_protocol(str(path))
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


# A test-only protocol: the paper's codec without a checkpoint and a dataset that is not
# here (both listed, not run), JPEG/WebP on 2 Kodak images with and without ROI masks.
TINY = textwrap.dedent("""\
    name = "tiny"
    title = "Tiny protocol"
    paper = "test-only protocol on two Kodak images"
    [dataset_labels]
    kodak = "Kodak"
    [[codecs]]
    id = "sde"
    codec = "sde"
    label = "Ours"
    requires = { checkpoint = "DIR: train one with `bench train sde`" }
    [[codecs]]
    id = "jpeg"
    codec = "jpeg"
    label = "JPEG"
    rates = [10, 30, 50, 70]
    colour = "#ff7f0e"
    [[codecs]]
    id = "webp"
    codec = "webp"
    label = "WebP"
    rates = [10, 30, 50, 70]
    line = "--"
    colour = "#2ca02c"
    [[runs]]
    dataset = "kodak"
    metrics = ["psnr"]
    [[runs]]
    dataset = "kodak"
    masks = "kodak-saliency"
    metrics = ["psnr"]
    codecs = ["jpeg", "webp"]
    [[runs]]
    dataset = "div2k-valid-hr"
    metrics = ["psnr"]
    [[figures]]
    id = "Figure 1"
    caption = "PSNR on Kodak and DIV2K."
    datasets = ["kodak", "div2k-valid-hr"]
    metrics = ["psnr"]
    [[figures]]
    id = "Figure 2"
    caption = "Full image and ROI PSNR."
    datasets = ["kodak"]
    masks = "kodak-saliency"
    metrics = ["psnr"]
    regions = ["full", "roi"]
    [[tables]]
    id = "Table 1"
    caption = "BD"
    datasets = ["kodak"]
    metrics = ["psnr"]
    anchor = ["sde", "jpeg"]
""")


@pytest.fixture(scope="module")
def protocol_run(tmp_path_factory):
    """`bench run --protocol` then `bench report --protocol` on the tiny protocol."""
    kodak_or_skip()
    root = tmp_path_factory.mktemp("protocol")
    (root / "tiny.toml").write_text(TINY)
    env = {**__import__("os").environ, "BENCH_DATA": str(KODAK.parent), "BENCH_CACHE": str(root / "cache"),
           "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "250"}
    if (KODAK.parent / "div2k-valid-hr").is_dir():
        pytest.skip("div2k-valid-hr is present here; this test needs a dataset that is missing")
    out = root / "out"
    run = run_cli(["run", "--protocol", str(root / "tiny.toml"), "--limit-images", "2", "-j", "0",
                   "--out", str(out)], env, timeout=300)
    report = run_cli(["report", "--protocol", str(root / "tiny.toml"), "--out", str(out)], env, timeout=300)
    return run, report, out


def test_run_protocol_lists_missing_and_runs_the_rest(protocol_run):
    run, _, out = protocol_run
    assert run.returncode == 0, run.stderr[-3000:]
    err = " ".join(run.stderr.split())      # rich may wrap long lines
    assert "missing codec sde needs checkpoint=DIR: pass --codec-option sde:checkpoint=DIR" in err
    assert "missing dataset div2k-valid-hr not downloaded: bench datasets download div2k-valid-hr" in err
    assert "protocol tiny: 2 run(s), 32 jobs done, 0 failed, 0 reused; not run here: 2" in err
    from bench.store import Store
    store = Store(out, create=False)
    jobs = store.frame()
    assert len(jobs) == 2 * 4 * 2 * 2 and set(jobs["status"]) == {"ok"}      # codecs x rates x images x groups
    assert set(jobs["dataset"]) == {"kodak"} and sorted(set(jobs["image"])) == ["kodim01", "kodim02"]
    assert set(jobs["mask_set"].fillna("")) == {"", "kodak-saliency"}
    masked = jobs[jobs["mask_set"] == "kodak-saliency"]
    assert masked["roi-psnr"].notna().all() and jobs.loc[jobs["mask_set"].isna(), "roi-psnr"].isna().all()
    # a stored PSNR is the PSNR of the stored reconstruction against the Kodak original
    row = jobs[(jobs["codec"] == "webp") & (jobs["image"] == "kodim02") & (jobs["setting"] == "quality=50")
               & jobs["mask_set"].isna()].iloc[0]
    ref = np.asarray(Image.open(KODAK / "kodim02.png").convert("RGB"), dtype=float)
    rec = np.asarray(Image.open(out / row["recon_path"]).convert("RGB"), dtype=float)
    assert row["psnr"] == pytest.approx(10 * np.log10(255 ** 2 / ((ref - rec) ** 2).mean()), abs=1e-6)
    store.close()
    rec = __import__("json").loads((out / "protocols" / "tiny.json").read_text())
    assert set(rec["entries"]) == {"jpeg", "webp"} and set(rec["missing"]) == {"codec:sde", "dataset:div2k-valid-hr"}


def test_report_protocol_lays_out_the_paper(protocol_run):
    _, report, out = protocol_run
    assert report.returncode == 0, report.stderr[-3000:]
    html = Path(report.stdout.strip())
    assert html == out / "report" / "protocol-tiny" / "index.html"
    from bench.report.builder import check_links
    assert check_links(html) == []
    text = html.read_text()
    assert [m for m in re.findall(r"<h2>([^<]+)</h2>", text)] == ["Not run here", "Figure 1", "Figure 2", "Table 1",
                                                                   "Codecs"]
    assert "codec sde needs checkpoint=DIR: pass --codec-option sde:checkpoint=DIR" in text
    assert "anchor JPEG stands in for the paper&#39;s Ours, which was not run here" in text
    for fig in ("Figure_1", "Figure_2"):
        with Image.open(html.parent / "img" / f"{fig}.png") as im:
            a = np.asarray(im.convert("RGB")).astype(int)
        for rgb in ((255, 127, 14), (44, 160, 44)):          # the entries' colours: JPEG orange, WebP green
            assert (np.abs(a - rgb).sum(axis=2) < 40).sum() > 50
    # Figure 1 is two panels high (Kodak, DIV2K "not run here"); Figure 2 one
    h1, h2 = (Image.open(html.parent / "img" / f"{f}.png").size[1] for f in ("Figure_1", "Figure_2"))
    assert h1 > 1.6 * h2
    # the BD-rate cell is WebP against JPEG on the Kodak PSNR curves, as bench.analysis computes it
    from bench.analysis import bdrate
    from bench.analysis.rd_points import rd_points
    from bench.store import Store
    store = Store(out, create=False)
    pts = rd_points(store, dataset="kodak")
    store.close()
    pts = pts[pts["mask_set"] == ""]
    j, w = (pts[pts["codec"] == c].sort_values("bpp") for c in ("jpeg", "webp"))
    want = bdrate.bd_rate(j["bpp"], j["psnr"], w["bpp"], w["psnr"]).value
    assert want < -5      # WebP needs fewer bits than JPEG at equal PSNR
    cell = re.search(r"<td>WebP</td><td class=\"better\">([-+0-9.]+)", text)
    assert cell and float(cell.group(1)) == pytest.approx(want, abs=0.006)


def test_run_protocol_bad_input_is_one_line(env):
    res = run_cli(["run", "--protocol", "sde", "--rates", "1,2"], env)
    assert res.returncode == 2 and "--rates does not combine with --protocol" in res.stderr
    res = run_cli(["run", "--protocol", "sdee"], env)
    assert res.returncode == 2 and "unknown protocol 'sdee' (did you mean 'sde'?)" in res.stderr
    res = run_cli(["run", "--limit-images", "2"], env)
    assert res.returncode == 2 and "go with --protocol NAME" in res.stderr


def test_report_protocol_needs_its_results(tmp_path, env):
    res = run_cli(["report", "--protocol", "sde", "--out", str(tmp_path / "none")], env)
    assert res.returncode == 2 and "no results in" in res.stderr


CHROMIUM = __import__("shutil").which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")
def test_protocol_report_screenshot_in_headless_chromium(protocol_run, tmp_path):
    _, report, _ = protocol_run
    png = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "report_screenshot.py"), report.stdout.strip(),
                           str(png), "--size", "1200x2400"], check=False, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    with Image.open(png) as im:
        a = np.asarray(im.convert("RGB")).astype(int)
    assert a.shape[:2] == (2400, 1200)
    orange = (np.abs(a - (255, 127, 14)).sum(axis=2) < 40).sum()
    green = (np.abs(a - (44, 160, 44)).sum(axis=2) < 40).sum()
    missing_text = (np.abs(a - (0x8a, 0x4b, 0x00)).sum(axis=2) < 60).sum()    # the "Not run here" lines
    better_cell = (np.abs(a - (0xe3, 0xf4, 0xe1)).sum(axis=2) < 6).sum()       # WebP's green BD-rate cell
    assert orange > 100 and green > 100, "no plot lines visible"
    assert missing_text > 50, "the missing lines are not on screen"
    assert better_cell > 100, "no coloured BD-rate cell visible"
