"""Where `bench run` spends time, against plain library loops doing the same work (prints a table).

    python scripts/perf.py [--images 24] [--repeats 3] [--device cpu|cuda]
                           [--only codec,metric,fixed,memory,pipeline,ray,large]
    python scripts/perf.py --quick          # 4 images, 1 repeat (CI)

The measurement script of the scale issue (see /work/shared/notes/perf-audit.md for the audit
it repeats). Every comparison runs side by side and interleaved (A B A B ...), medians over
--repeats, each `bench run` as a subprocess with a fresh --out, so start-up, imports and pool
spawning count as a user sees them. The "direct" side is this same file run as a subprocess
(`perf.py _direct ...`): Pillow, numpy, lpips, pytorch_msssim with the same qualities, the same
reconstructions and the same weights, and nothing else.

Sections:
  codec   jpeg over the images at --rates with psnr: `bench run -j 1` vs a plain loop,
          `-j 2` vs multiprocessing.Pool(2); also the suite's 2-over-1 worker speed-up.
  metric  the suite's metric stage ("metrics X s" of `bench run`) vs a batched direct loop over
          the same stored reconstructions; prints the largest value difference per metric.
  fixed   one image, one rate: `bench run` with default workers vs `--workers 0` (and direct).
  memory  peak RSS of a psnr run and an lpips run (largest process via wait4, and the
          sampled sum over the process tree via psutil when installed).
  pipeline  jpeg, webp, avif (each at --rates) + psnr, ms-ssim, lpips: the pipelined run
          (default) vs `--staged`.
  ray     the codec mix (jpeg, webp, avif + psnr) with `--executor ray`: 2 workers over 1, Ray vs
          the local pool at 2 workers, and whether both stored identical rows (bytes, bpp, psnr).
  large   one 6000x4000 image (a Kodak image upscaled) through jpeg + psnr, ms-ssim, lpips:
          peak RSS of the run (largest process and the process tree).

It prints figures and the issue's targets beside them; it asserts nothing. The exit status is
1 only when a measured run itself failed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("codec", "metric", "fixed", "memory", "pipeline", "ray", "large")
MIX = "jpeg,webp,avif"
DIRECT_METRICS = ("psnr", "ms-ssim", "lpips")      # what the direct metric loop can compute

# The scale issue's targets, printed beside the figures they apply to (never asserted).
TARGET_HARNESS_1W = 1.10      # bench -j1 wall / plain loop wall
TARGET_METRIC_STAGE = 1.15    # suite metric stage / direct batched loop
TARGET_SPEEDUP_2W = 1.8       # bench -j1 / bench -j2
TARGET_FIXED_S = 2.0          # one image: default workers - --workers 0, seconds
TARGET_PIPELINED = 1.0        # pipelined wall / staged wall
TARGET_RAY_2W = 1.6           # ray -j1 / ray -j2
TARGET_LARGE_MB = 2048        # 6000x4000 image, psnr + ms-ssim + lpips, peak RSS


# ----------------------------------------------------------------------------- direct loops
# These run in a child process (`perf.py _direct codec|metrics`) so that their wall time
# includes an interpreter and its imports, as a user's own script would.

def _direct_codec_image(task: tuple) -> list[dict]:
    """One image through every quality: what a plain script does (decode the PNG once)."""
    import numpy as np
    from PIL import Image

    path, rates, out = task
    with Image.open(path) as im:
        ref = im.convert("RGB")
    ref_arr = np.asarray(ref)
    stem = Path(path).stem
    rows = []
    for q in rates:
        buf = io.BytesIO()
        # The suite's jpeg: libjpeg tables at this quality, 4:2:0, optimized Huffman tables.
        ref.save(buf, format="JPEG", quality=int(q), subsampling="4:2:0", optimize=True)
        data = buf.getvalue()
        with Image.open(io.BytesIO(data)) as im:
            recon = np.asarray(im.convert("RGB"))
        Path(out, f"{stem}-q{q:g}.jpg").write_bytes(data)
        Image.fromarray(recon).save(Path(out, f"{stem}-q{q:g}.png"), compress_level=1)   # as the suite
        d = ref_arr.astype(np.int32) - recon
        mse = float(np.mean(d * d))
        rows.append({"image": stem, "rate": float(q), "bytes": len(data),
                     "psnr": 10.0 * np.log10(255.0 ** 2 / mse) if mse else float("inf")})
    return rows


def direct_codec(images: list[str], rates: list[float], out: str, workers: int) -> dict:
    t0 = time.perf_counter()
    tasks = [(p, rates, out) for p in images]
    if workers <= 1:
        rows = [r for t in tasks for r in _direct_codec_image(t)]
    else:
        import multiprocessing
        with multiprocessing.Pool(workers) as pool:
            rows = [r for rs in pool.imap_unordered(_direct_codec_image, tasks) for r in rs]
    return {"loop_s": time.perf_counter() - t0, "rows": rows}


def _lpips_alex(device: str):
    """lpips.LPIPS('alex', v0.1) with the suite's weights: the linear layers are the lpips
    package's own file (loaded by the library); the AlexNet trunk has no torchvision copy on
    these machines, so its tensors come from the file bench's resolver verified (the only
    local copy) instead of a torch-hub download."""
    import warnings

    import lpips

    from bench import weights as W

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    trunk = W.load_state_dict(W.resolve("alexnet"))
    copied = 0
    for _, block in model.net.named_children():          # slice1..5; children named by torchvision index
        for idx, layer in block.named_children():
            for pname, param in layer.named_parameters(recurse=False):
                param.data.copy_(trunk[f"features.{idx}.{pname}"])
                copied += 1
    if copied != 10:
        raise RuntimeError(f"expected 10 AlexNet tensors, filled {copied}")
    return model.eval().requires_grad_(False).to(device)


def direct_metrics(db: str, out_root: str, metrics: list[str], device: str, batch: int) -> dict:
    """Batched loop over the stored reconstructions: decode with Pillow, numpy PSNR on uint8,
    lpips and pytorch_msssim on float32 [0, 1] tensors, batches of equal size."""
    import numpy as np
    import torch
    from PIL import Image

    t0 = time.perf_counter()
    lp = _lpips_alex(device) if "lpips" in metrics else None
    if "ms-ssim" in metrics:
        from pytorch_msssim import ms_ssim
    setup_s = time.perf_counter() - t0

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        jobs = con.execute("SELECT key, image_path, recon_path, height, width FROM jobs "
                           "WHERE status = 'ok' ORDER BY key").fetchall()
    groups: dict[tuple, list] = {}
    for key, img, rec, h, w in jobs:
        groups.setdefault((h, w), []).append((key, img, str(Path(out_root, rec))))

    def rgb(path):
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

    values: dict[str, dict[str, float]] = {m: {} for m in metrics}
    t0 = time.perf_counter()
    with torch.inference_mode():
        for group in groups.values():
            for s in range(0, len(group), batch):
                chunk = group[s:s + batch]
                ref = np.stack([rgb(c[1]) for c in chunk])
                dist = np.stack([rgb(c[2]) for c in chunk])
                keys = [c[0] for c in chunk]
                if "psnr" in metrics:
                    d = ref.astype(np.int32) - dist
                    mse = (d * d).reshape(len(chunk), -1).mean(1)
                    for k, v in zip(keys, 10.0 * np.log10(255.0 ** 2 / mse)):
                        values["psnr"][k] = float(v)
                if lp is None and "ms-ssim" not in metrics:
                    continue
                # uint8 to the device, then float: a quarter of the bytes to copy.
                x = torch.from_numpy(ref).to(device).permute(0, 3, 1, 2).float().div_(255.0)
                y = torch.from_numpy(dist).to(device).permute(0, 3, 1, 2).float().div_(255.0)
                if lp is not None:
                    for k, v in zip(keys, lp(x, y, normalize=True).reshape(-1).cpu().tolist()):
                        values["lpips"][k] = v
                if "ms-ssim" in metrics:
                    v = ms_ssim(x, y, data_range=1.0, size_average=False).reshape(-1).cpu().tolist()
                    values["ms-ssim"].update(zip(keys, v))
    return {"loop_s": time.perf_counter() - t0, "setup_s": setup_s, "values": values, "n": len(jobs)}


def direct_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="perf.py _direct")
    ap.add_argument("kind", choices=("codec", "metrics"))
    ap.add_argument("--images", nargs="*", default=[])
    ap.add_argument("--rates", default="10,50,90")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--db")
    ap.add_argument("--metrics", default="psnr")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=8)
    a = ap.parse_args(argv)
    if a.kind == "codec":
        res = direct_codec(a.images, [float(r) for r in a.rates.split(",")], a.out, a.workers)
    else:
        res = direct_metrics(a.db, a.out, a.metrics.split(","), a.device, a.batch_size)
    print(json.dumps(res))
    return 0


# ----------------------------------------------------------------------------- running children

class Result:
    """One child run: wall time, exit status, output, and its peak memory."""

    def __init__(self, cmd, wall, rc, stdout, stderr, maxrss_mb, tree_mb):
        self.cmd, self.wall, self.rc, self.stdout, self.stderr = cmd, wall, rc, stdout, stderr
        self.maxrss_mb, self.tree_mb = maxrss_mb, tree_mb

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def stages(self) -> dict[str, float]:
        """Stage times from the run's last line, '...; 14.9 s (encode/decode 1.1 s, metrics 5.9 s)'
        (rich may wrap it: whitespace is joined first)."""
        text = re.sub(r"\s+", " ", self.stderr)
        m = None
        for m in re.finditer(r"jobs done, .*?; ([\d.]+) s(?: \(([^)]*)\))?", text):
            pass
        if not m:
            return {}
        out = {"total": float(m.group(1))}
        for name, sec in re.findall(r"([A-Za-z/ ]+?) ([\d.]+) s", m.group(2) or ""):
            out[name.strip(" ,")] = float(sec)
        return out

    def json(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])


def _tree_sampler(pid: int, peak: list, stop: threading.Event) -> None:
    """Largest sum of RSS over the child and its descendants, sampled every 50 ms."""
    import psutil
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            for p in [root] + root.children(recursive=True):
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            break
        peak[0] = max(peak[0], total)
        stop.wait(0.05)


def run_child(cmd: list[str], sample_tree: bool = False) -> Result:
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}   # COLUMNS: keep rich from wrapping
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env, cwd=REPO)
        peak, stop, th = [0], threading.Event(), None
        if sample_tree:
            th = threading.Thread(target=_tree_sampler, args=(proc.pid, peak, stop), daemon=True)
            th.start()
        # wait4, not wait: its rusage is this child's (and its reaped descendants') alone, where
        # RUSAGE_CHILDREN would be the maximum over every child this script ever ran.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        if th:
            th.join()
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read().decode(errors="replace"), fe.read().decode(errors="replace")
    return Result(cmd, wall, proc.returncode, out, err, usage.ru_maxrss / 1024.0,
                  peak[0] / 2 ** 20 if sample_tree else None)


def bench_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "bench"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bench"]


def direct_cmd() -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_direct"]


# ----------------------------------------------------------------------------- the measurements

class Perf:
    def __init__(self, args, work: Path, images: list[Path]):
        self.a, self.work = args, work
        self.rates = [float(r) for r in args.rates.split(",")]
        self.data = self._subset(images, "data")
        self.one = self._subset(images[:1], "one")
        self.rows: list[tuple] = []       # (section, measurement, bench, direct, ratio, target, note)
        self.notes: list[str] = []
        self.failures: list[str] = []
        self._n = 0
        # bench's own default on CPU is 1 (its batching rule); the direct loop gets the same, or 16 on CUDA
        self.direct_batch = args.batch_size or (16 if args.device.startswith("cuda") else 1)

    def _subset(self, images: list[Path], name: str) -> Path:
        """A folder holding just these images: `bench run --dataset FOLDER` takes all of a folder."""
        d = self.work / name
        d.mkdir()
        for p in images:
            shutil.copy2(p, d / p.name)
        return d

    def fresh(self, tag: str) -> Path:
        self._n += 1
        return self.work / f"{tag}-{self._n}"

    def bench(self, data: Path, out: Path, metrics: str, workers: int | None, rates: list[float] | None = None,
              sample_tree: bool = False, codecs: str = "jpeg", extra: tuple[str, ...] = ()) -> Result:
        cmd = bench_cmd() + ["run", "--dataset", str(data), "--codecs", codecs,
                             "--rates", ",".join(f"{r:g}" for r in (rates or self.rates)),
                             "--metrics", metrics, "--device", self.a.device, "--out", str(out)]
        if self.a.batch_size:
            cmd += ["--batch-size", str(self.a.batch_size)]
        cmd += list(extra) + self.a.bench_arg
        if workers is not None:
            cmd += ["--workers", str(workers)]
        what = f"bench run {codecs} -j {workers} --metrics {metrics} {' '.join(extra)}".rstrip()
        return self._check(run_child(cmd, sample_tree), what)

    def direct_codec(self, data: Path, workers: int, rates: list[float] | None = None,
                     sample_tree: bool = False) -> Result:
        out = self.fresh("direct")
        out.mkdir()
        cmd = direct_cmd() + ["codec", "--out", str(out), "--workers", str(workers),
                              "--rates", ",".join(f"{r:g}" for r in (rates or self.rates)),
                              "--images"] + [str(p) for p in sorted(data.iterdir())]
        res = self._check(run_child(cmd, sample_tree), f"direct codec loop ({workers} workers)")
        shutil.rmtree(out, ignore_errors=True)
        return res

    def direct_metrics(self, out: Path, metrics: str, sample_tree: bool = False) -> Result:
        cmd = direct_cmd() + ["metrics", "--db", str(out / "bench.sqlite"), "--out", str(out),
                              "--metrics", metrics, "--device", self.a.device,
                              "--batch-size", str(self.direct_batch)]
        return self._check(run_child(cmd, sample_tree), f"direct metric loop ({metrics})")

    def _check(self, res: Result, what: str) -> Result:
        if not res.ok:
            tail = "\n    ".join(res.stderr.strip().splitlines()[-8:])
            self.failures.append(f"{what} exited {res.rc}:\n    {tail}")
            print(f"  ! {what} failed (exit {res.rc})", file=sys.stderr)
        return res

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(self, section, what, bench, direct, ratio=None, target="", note=""):
        self.rows.append((section, what, bench, direct, ratio, target, note))

    # -- sections

    def warm_up(self) -> None:
        """One untimed run first: bench's image-hash cache, the page cache and bytecode are then
        warm for every timed run alike, so the first of A B A B is not the odd one out."""
        self.log("warm-up run (untimed)")
        out = self.fresh("warm")
        self.bench(self.data, out, "psnr", 0, rates=self.rates[:1])
        shutil.rmtree(out, ignore_errors=True)
        self.direct_codec(self.one, 1, rates=self.rates[:1])

    def codec(self) -> None:
        walls = {k: [] for k in ("b1", "d1", "b2", "d2")}
        stage = {k: [] for k in ("b1", "b2")}
        loop = {k: [] for k in ("d1", "d2")}
        check = None
        for r in range(self.a.repeats):
            for key, workers in (("1", 1), ("2", 2)):
                self.log(f"codec repeat {r + 1}/{self.a.repeats}: bench -j {workers}, then direct ({workers})")
                out = self.fresh("codec")
                b = self.bench(self.data, out, "psnr", workers)
                d = self.direct_codec(self.data, workers)
                if b.ok:
                    walls["b" + key].append(b.wall)
                    if "encode/decode" in b.stages():
                        stage["b" + key].append(b.stages()["encode/decode"])
                if d.ok:
                    walls["d" + key].append(d.wall)
                    loop["d" + key].append(d.json()["loop_s"])
                if check is None and b.ok and d.ok:
                    check = self._compare_codec(out, d.json()["rows"])
                shutil.rmtree(out, ignore_errors=True)
        med = {k: _median(v) for k, v in {**walls, **{"s" + k: v for k, v in stage.items()},
                                           **{"l" + k: v for k, v in loop.items()}}.items()}
        n = len(self.rates) * len(list(self.data.iterdir()))
        self.add("codec", f"jpeg x{len(self.rates)} rates, {n} jobs, psnr: run wall, -j 1 vs plain loop",
                 med["b1"], med["d1"], _ratio(med["b1"], med["d1"]), f"<= {TARGET_HARNESS_1W:.2f}x")
        self.add("codec", "  encode/decode stage -j 1 vs the loop itself (no start-up)",
                 med["sb1"], med["ld1"], _ratio(med["sb1"], med["ld1"]))
        self.add("codec", "run wall, -j 2 vs multiprocessing.Pool(2)", med["b2"], med["d2"], _ratio(med["b2"], med["d2"]))
        self.add("codec", "  encode/decode stage -j 2 vs the pool loop itself",
                 med["sb2"], med["ld2"], _ratio(med["sb2"], med["ld2"]))
        self.add("codec", "2 workers over 1, run wall (speed-up)", _ratio(med["b1"], med["b2"]),
                 _ratio(med["d1"], med["d2"]), None, f">= {TARGET_SPEEDUP_2W:.1f}x", "speed-up, not time")
        self.add("codec", "2 workers over 1, encode/decode stage (speed-up)", _ratio(med["sb1"], med["sb2"]),
                 _ratio(med["ld1"], med["ld2"]), None, f">= {TARGET_SPEEDUP_2W:.1f}x", "speed-up, not time")
        if check:
            self.notes.append(check)

    def _compare_codec(self, out: Path, rows: list[dict]) -> str:
        """Same work? Bitstream sizes and PSNR of the suite's store against the direct loop's."""
        db = out / "bench.sqlite"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            got = {(img, rate): (nbytes, psnr) for img, rate, nbytes, psnr in con.execute(
                "SELECT j.image, j.rate, j.bytes, m.value FROM jobs j LEFT JOIN metrics m "
                "ON m.key = j.key AND m.metric = 'psnr' WHERE j.status = 'ok'")}
        same_bytes = sum(1 for r in rows if got.get((r["image"], r["rate"]), (None,))[0] == r["bytes"])
        diffs = [abs(got[(r["image"], r["rate"])][1] - r["psnr"]) for r in rows
                 if (r["image"], r["rate"]) in got and got[(r["image"], r["rate"])][1] is not None]
        return (f"codec check: {same_bytes}/{len(rows)} bitstreams of equal size in bench and direct; "
                f"psnr max |diff| {max(diffs) if diffs else float('nan'):.2e} dB")

    def metric(self) -> None:
        metrics = self.a.metrics
        stage, loop, setup, diffs = [], [], [], {}
        for r in range(self.a.repeats):
            self.log(f"metric repeat {r + 1}/{self.a.repeats}: bench --metrics {metrics}, then direct loop")
            out = self.fresh("metric")
            b = self.bench(self.data, out, metrics, 2)
            if b.ok and "metrics" in b.stages():
                stage.append(b.stages()["metrics"])
            if b.ok:       # the direct loop reads this run's reconstructions
                d = self.direct_metrics(out, metrics)
                if d.ok:
                    res = d.json()
                    loop.append(res["loop_s"])
                    setup.append(res["setup_s"])
                    for m, dm in _value_diffs(out, res["values"]).items():
                        diffs[m] = max(diffs.get(m, 0.0), dm)
            shutil.rmtree(out, ignore_errors=True)
        s, lo = _median(stage), _median(loop)
        self.add("metric", f"metric stage ({metrics}) vs direct batched loop (batch {self.a.batch_size})",
                 s, lo, _ratio(s, lo), f"<= {TARGET_METRIC_STAGE:.2f}x",
                 f"direct model set-up {_fmt_s(_median(setup))} not counted (nor the suite's)")
        if diffs:
            self.notes.append("metric values, max |bench - direct|: " +
                              ", ".join(f"{m} {v:.2e}" for m, v in diffs.items()))

    def fixed(self) -> None:
        rate = self.rates[len(self.rates) // 2: len(self.rates) // 2 + 1]
        dflt, zero, direct = [], [], []
        for r in range(self.a.repeats):
            self.log(f"fixed-cost repeat {r + 1}/{self.a.repeats}: 1 image, default workers / -j 0 / direct")
            for workers, acc in ((None, dflt), (0, zero)):
                out = self.fresh("fixed")
                b = self.bench(self.one, out, "psnr", workers, rates=rate)
                if b.ok:
                    acc.append(b.wall)
                shutil.rmtree(out, ignore_errors=True)
            d = self.direct_codec(self.one, 1, rates=rate)
            if d.ok:
                direct.append(d.wall)
        a, z, d = _median(dflt), _median(zero), _median(direct)
        self.add("fixed", f"1 image, q{rate[0]:g}, psnr: default workers vs --workers 0", a, z, _ratio(a, z),
                 f"diff <= {TARGET_FIXED_S:.0f} s", f"diff {_fmt_s(a - z) if a and z else 'n/a'}")
        self.add("fixed", "  --workers 0 vs a direct script (1 image)", z, d, _ratio(z, d), "",
                 f"diff {_fmt_s(z - d) if z and d else 'n/a'}")

    def memory(self) -> None:
        self.log("memory: bench psnr run, direct codec loop, bench lpips run, direct lpips loop")
        out = self.fresh("mem")
        b = self.bench(self.data, out, "psnr", 1, sample_tree=True)
        d = self.direct_codec(self.data, 1, sample_tree=True)
        shutil.rmtree(out, ignore_errors=True)
        self.add("memory", "peak RSS, psnr run -j 1 vs direct codec loop (largest process)",
                 _mb(b.maxrss_mb if b.ok else None), _mb(d.maxrss_mb if d.ok else None),
                 _ratio(b.maxrss_mb, d.maxrss_mb) if b.ok and d.ok else None, "",
                 f"tree sum {_mb(b.tree_mb)} vs {_mb(d.tree_mb)}")
        out = self.fresh("mem")
        b = self.bench(self.data, out, "lpips", 1, sample_tree=True)
        d = self.direct_metrics(out, "lpips", sample_tree=True) if b.ok else None
        shutil.rmtree(out, ignore_errors=True)
        dok = d is not None and d.ok
        self.add("memory", "peak RSS, lpips run -j 1 vs direct lpips loop (largest process)",
                 _mb(b.maxrss_mb if b.ok else None), _mb(d.maxrss_mb if dok else None),
                 _ratio(b.maxrss_mb, d.maxrss_mb) if b.ok and dok else None, "",
                 f"tree sum {_mb(b.tree_mb)} vs {_mb(d.tree_mb if dok else None)}")

    def pipeline(self) -> None:
        walls = {"pipelined": [], "staged": []}
        metrics = "psnr,ms-ssim,lpips"
        for r in range(self.a.repeats):
            for kind in ("pipelined", "staged"):
                self.log(f"pipeline repeat {r + 1}/{self.a.repeats}: {MIX} + {metrics}, {kind}")
                out = self.fresh("pipe")
                b = self.bench(self.data, out, metrics, None, codecs=MIX,
                               extra=("--staged",) if kind == "staged" else ())
                if b.ok:
                    walls[kind].append(b.wall)
                shutil.rmtree(out, ignore_errors=True)
        p, s_ = _median(walls["pipelined"]), _median(walls["staged"])
        self.add("pipeline", f"{MIX} + {metrics}, default workers: pipelined vs --staged (run wall)", p, s_,
                 _ratio(p, s_), f"<= {TARGET_PIPELINED:.2f}x", "'direct' column: the staged run")

    def ray(self) -> None:
        walls = {k: [] for k in ("r1", "r2", "l2")}
        stage = {k: [] for k in ("r1", "r2")}
        same = None
        for r in range(self.a.repeats):
            outs = {}
            for key, workers, extra in (("r1", 1, ("--executor", "ray")), ("r2", 2, ("--executor", "ray")),
                                        ("l2", 2, ())):
                self.log(f"ray repeat {r + 1}/{self.a.repeats}: {MIX} + psnr, -j {workers} {' '.join(extra)}")
                outs[key] = out = self.fresh("ray")
                b = self.bench(self.data, out, "psnr", workers, codecs=MIX, extra=extra)
                if b.ok:
                    walls[key].append(b.wall)
                    if key in stage and "encode/decode" in b.stages():
                        stage[key].append(b.stages()["encode/decode"])
            if same is None and all((o / "bench.sqlite").exists() for o in outs.values()):
                same = _same_rows(outs["r2"], outs["l2"])
            for o in outs.values():
                shutil.rmtree(o, ignore_errors=True)
        med = {k: _median(v) for k, v in walls.items()}
        sm = {k: _median(v) for k, v in stage.items()}
        self.add("ray", f"{MIX} + psnr, --executor ray: 2 workers over 1, run wall (speed-up)",
                 _ratio(med["r1"], med["r2"]), None, None, f">= {TARGET_RAY_2W:.1f}x", "speed-up, not time")
        self.add("ray", "  same, encode/decode stage (no Ray start-up) (speed-up)", _ratio(sm["r1"], sm["r2"]),
                 None, None, f">= {TARGET_RAY_2W:.1f}x", "speed-up, not time")
        self.add("ray", "-j 2: --executor ray vs the local pool (run wall)", med["r2"], med["l2"],
                 _ratio(med["r2"], med["l2"]), "", "'direct' column: the local pool")
        if same:
            self.notes.append(f"ray vs local pool rows: {same}")

    def large(self) -> None:
        from PIL import Image
        folder = self.work / "large"
        folder.mkdir()
        with Image.open(sorted(self.data.iterdir())[0]) as im:
            im.convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC).save(folder / "large.png",
                                                                                   compress_level=1)
        metrics = "psnr,ms-ssim,lpips"
        self.log(f"large: one 6000x4000 image, jpeg q50 + {metrics}")
        out = self.fresh("large")
        b = self.bench(folder, out, metrics, 1, rates=[50.0], sample_tree=True)
        shutil.rmtree(out, ignore_errors=True)
        st = b.stages() if b.ok else {}
        self.add("large", f"6000x4000 image, jpeg q50 + {metrics}: peak RSS (largest process)",
                 _mb(b.maxrss_mb if b.ok else None), None, None, f"< {TARGET_LARGE_MB} MB",
                 f"tree sum {_mb(b.tree_mb)}; wall {_fmt_s(b.wall)}, metrics {_fmt_s(st.get('metrics'))}")


def _same_rows(a: Path, b: Path) -> str:
    """Do two runs hold the same jobs (bytes, bpp) and per-image values?"""
    def rows(out):
        with sqlite3.connect(f"file:{out / 'bench.sqlite'}?mode=ro", uri=True) as con:
            jobs = {k: (n, bpp) for k, n, bpp in con.execute("SELECT key, bytes, bpp FROM jobs WHERE status='ok'")}
            vals = {(k, m): v for k, m, v in con.execute("SELECT key, metric, value FROM metrics")}
        return jobs, vals
    (ja, va), (jb, vb) = rows(a), rows(b)
    diff_jobs = sum(1 for k in set(ja) | set(jb) if ja.get(k) != jb.get(k))
    diff_vals = sum(1 for k in set(va) | set(vb) if va.get(k) != vb.get(k))
    return (f"{len(ja)} / {len(jb)} ok jobs, {diff_jobs} differ in bytes or bpp; {len(va)} / {len(vb)} metric "
            f"values, {diff_vals} differ" + (" (identical)" if not diff_jobs and not diff_vals else ""))


def _value_diffs(out: Path, direct: dict[str, dict[str, float]]) -> dict[str, float]:
    with sqlite3.connect(f"file:{out / 'bench.sqlite'}?mode=ro", uri=True) as con:
        stored = {(k, m): v for k, m, v in con.execute("SELECT key, metric, value FROM metrics")}
    res = {}
    for m, vals in direct.items():
        d = [abs(stored[(k, m)] - v) for k, v in vals.items() if stored.get((k, m)) is not None]
        res[m] = max(d) if d else float("nan")
    return res


# ----------------------------------------------------------------------------- formatting

def _median(xs):
    return statistics.median(xs) if xs else None


def _ratio(a, b):
    return a / b if a and b else None


def _fmt_s(x):
    return "n/a" if x is None else f"{x:.2f} s"


def _mb(x):
    return "n/a" if x is None else f"{x:.0f} MB"


def _cell(x, what):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:.2f}x" if "speed-up" in what else _fmt_s(x)


def _versions() -> str:
    from importlib import metadata
    parts = [f"python {platform.python_version()}"]
    for name in ("pillow", "numpy", "torch", "torchvision", "lpips", "pytorch-msssim", "psutil"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} -")
    from PIL import features
    parts.append(f"libjpeg-turbo {features.version('libjpeg_turbo')}")
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=False).stdout.strip()
        parts.append(f"bench {rev}{'+local changes' if dirty else ''}")
    except OSError:
        pass
    return ", ".join(parts)


def _machine(device: str) -> str:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    s = f"{platform.system()} {platform.machine()}, {cpus} CPUs ({usable} usable)"
    if device.startswith("cuda"):
        try:
            import torch
            s += f", GPU {torch.cuda.get_device_name(0)}"
        except (RuntimeError, AssertionError) as exc:   # no usable CUDA here
            s += f", GPU ? ({exc})"
    return s


def print_table(perf: Perf, header: list[str], load: tuple) -> None:
    rows = [("section", "measurement", "bench", "direct", "ratio", "target", "note")]
    for sec, what, b, d, ratio, target, note in perf.rows:
        rows.append((sec, what, _cell(b, what), _cell(d, what), "" if ratio is None else f"{ratio:.2f}x",
                     target, note))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for line in header:
        print(line)
    print(f"load average: {load[0]:.2f} at start, {load[1]:.2f} at end (1 min)")
    print()
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 2 or j > 4 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for n in perf.notes:
        print(n)
    print("ratios are bench / direct (lower is better) except speed-ups (bench -j1 / -j2, higher is better); "
          "targets are printed, not asserted")
    for f in perf.failures:
        print(f"FAILED: {f}")


# ----------------------------------------------------------------------------- main

def default_dataset() -> Path:
    env = os.environ.get("BENCH_DATA")
    if env and (Path(env) / "kodak").is_dir():
        return Path(env) / "kodak"
    return (REPO / ".." / "shared" / "datasets" / "kodak").resolve()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_direct"]:
        return direct_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=24, help="first N images of the dataset (default 24)")
    ap.add_argument("--dataset", type=Path, default=None,
                    help="folder of PNGs (default $BENCH_DATA/kodak, else ../shared/datasets/kodak)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are printed")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="metric device, bench and direct")
    ap.add_argument("--quick", action="store_true", help="4 images, 1 repeat (CI)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {','.join(SECTIONS)}")
    ap.add_argument("--rates", default="10,50,90", help="jpeg qualities (default 10,50,90, as the audit)")
    ap.add_argument("--metrics", default="psnr,ms-ssim,lpips", help=f"metric section: subset of {DIRECT_METRICS}")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="metric batch size, bench and direct (default: bench's rule, 1 on CPU; direct the same, 16 on CUDA)")
    ap.add_argument("--bench-arg", action="append", default=[],
                    help="extra argument for every `bench run` (repeatable), e.g. to compare executors")
    ap.add_argument("--workdir", type=Path, default=None, help="where the temporary --out folders go")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    a = ap.parse_args(argv)
    if a.quick:
        a.images, a.repeats = 4, 1
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS] + [m for m in a.metrics.split(",") if m not in DIRECT_METRICS]
    if bad:
        ap.error(f"unknown section or metric: {', '.join(bad)}")
    dataset = a.dataset or default_dataset()
    images = sorted(p for p in dataset.glob("*.png"))[:a.images]
    if not images:
        ap.error(f"no PNG images in {dataset}; pass --dataset")

    load0 = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-perf-", dir=a.workdir))
    perf = Perf(a, work, images)
    try:
        perf.warm_up()
        for section in SECTIONS:
            if section in only:
                getattr(perf, section)()
    finally:
        if a.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    header = [f"bench perf: {len(images)} images of {dataset}, jpeg q{a.rates}, {a.repeats} repeat(s), "
              f"interleaved, medians; device {a.device}; batch {a.batch_size or 'bench default'} "
              f"(direct {perf.direct_batch})"
              + (f"; bench args {' '.join(a.bench_arg)}" if a.bench_arg else ""),
              f"machine: {_machine(a.device)}",
              f"versions: {_versions()}"]
    print_table(perf, header, (load0, os.getloadavg()[0]))
    if a.json:
        a.json.write_text(json.dumps({"header": header, "notes": perf.notes, "failures": perf.failures,
                                      "rows": [dict(zip(("section", "measurement", "bench", "direct", "ratio",
                                                         "target", "note"), r)) for r in perf.rows]}, indent=1))
    return 1 if perf.failures else 0


if __name__ == "__main__":
    sys.exit(main())
