"""Smoke test of scripts/perf.py's pieces that need no `bench run` (the full script takes minutes)."""

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "perf.py"


def _perf():
    spec = importlib.util.spec_from_file_location("perf_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stage_parsing_and_direct_codec_loop(tmp_path):
    perf = _perf()
    # rich may wrap the summary line; the parser joins whitespace first
    err = ("dataset x (2 images)\n4 jobs done, 0 failed, 0 reused from earlier runs; 14.9 s (encode/decode 1.1 s, \n"
           "metrics 5.9 s)\n")
    res = perf.Result([], 1.0, 0, "", err, 1.0, None)
    assert res.stages() == {"total": 14.9, "encode/decode": 1.1, "metrics": 5.9}

    rng = np.random.default_rng(0)
    img = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(img)
    out = tmp_path / "out"
    out.mkdir()
    got = perf.direct_codec([str(img)], [10.0, 90.0], str(out), workers=1)
    assert [r["rate"] for r in got["rows"]] == [10.0, 90.0]
    assert got["rows"][0]["bytes"] < got["rows"][1]["bytes"]
    assert got["rows"][0]["psnr"] < got["rows"][1]["psnr"]
    assert sorted(p.name for p in out.iterdir()) == ["a-q10.jpg", "a-q10.png", "a-q90.jpg", "a-q90.png"]
