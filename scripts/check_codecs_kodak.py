"""Real-data check of the standard codec adapters on all of Kodak (slow: minutes to an hour).

Part 1, per codec and default rate: mean bpp (from real byte counts), mean PSNR (RGB,
8-bit, mean of per-image values), encode/decode milliseconds per image, chroma format;
every decoded image must have the input's size.
Part 2, `--target-bpp` accuracy: per codec and target, how many images the knob range
can reach, how many of those land within 5 %, the mean |error| and encodes per image.
Exits 1 when a reachable target misses by more than 5 % (CI runs a fast subset).

    python scripts/check_codecs_kodak.py                       # everything, all 24 images
    python scripts/check_codecs_kodak.py --codecs hevc,jpegxl --images 4 --targets ''
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.codec import CODECS, make_codec
from bench.codec.rate_target import TOLERANCE, encode_at_target
from bench.image import load_rgb

KODAK = Path(os.environ.get("BENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "kodak"
CHROMA = {"jpeg": "4:2:0", "jpeg-444": "4:4:4", "webp": "4:2:0", "avif": "4:4:4", "jpegxl": "XYB (no subsampling)",
          "jpeg2000": "4:4:4 (ICT)", "hevc": "4:2:0", "hevc-444": "4:4:4", "hevc-roi": "4:2:0",
          "vvc": "4:2:0 10-bit", "vtm": "4:4:4 GBR", "bpg": "4:4:4"}
STANDARD = ["jpegxl", "jpeg2000", "hevc", "hevc-444", "hevc-roi", "vvc", "vtm", "bpg"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def sweep(spec: str, images: dict[str, np.ndarray]) -> list[dict]:
    codec = make_codec(spec)
    rows = []
    for rate in codec.default_rates:
        bpp, quality, enc, dec = [], [], [], []
        for stem, img in images.items():
            t0 = time.perf_counter()
            data = codec.encode(img, rate)
            t1 = time.perf_counter()
            recon = codec.decode(data)
            t2 = time.perf_counter()
            if recon.shape != img.shape or recon.dtype != np.uint8:
                raise SystemExit(f"{spec} {stem} rate {rate}: decoded {recon.shape} {recon.dtype}, expected {img.shape}")
            bpp.append(8 * len(data) / (img.shape[0] * img.shape[1]))
            quality.append(psnr(img, recon))
            enc.append(t1 - t0)
            dec.append(t2 - t1)
        row = {"codec": spec, "knob": codec.rate_param, "rate": rate, "images": len(images),
               "bpp": float(np.mean(bpp)), "psnr": float(np.mean(quality)), "enc_ms": 1e3 * float(np.mean(enc)),
               "dec_ms": 1e3 * float(np.mean(dec)), "chroma": CHROMA.get(spec.split(":")[0], "?")}
        rows.append(row)
        print(f"{row['codec']:<10} {row['knob']:>8}={rate:<6g} n={row['images']:<3} bpp {row['bpp']:7.4f}  "
              f"PSNR {row['psnr']:6.2f} dB  enc {row['enc_ms']:8.1f} ms  dec {row['dec_ms']:7.1f} ms  "
              f"{row['chroma']}", flush=True)
    return rows


def targeting(spec: str, images: dict[str, np.ndarray], targets: list[float]) -> list[dict]:
    codec = make_codec(spec)
    rows = []
    for target in targets:
        details = []
        for img in images.values():
            _, _, detail = encode_at_target(codec, img, target)
            details.append(detail)
        reach = [d for d in details if d["reachable"]]
        row = {"codec": spec, "target_bpp": target, "images": len(details), "reachable": len(reach),
               "within_5pct_of_reachable": sum(d["within_tolerance"] for d in reach),
               "within_5pct_all": sum(d["within_tolerance"] for d in details),
               "mean_abs_rel_error_reachable": float(np.mean([abs(d["rel_error"]) for d in reach])) if reach else None,
               "max_abs_rel_error_reachable": float(np.max([abs(d["rel_error"]) for d in reach])) if reach else None,
               "mean_encodes": float(np.mean([d["iterations"] for d in details])),
               "non_monotonic": sum(not d["monotonic"] for d in details),
               "unreachable_reasons": [d["reason"] for d in details if not d["reachable"]][:3]}
        rows.append(row)
        err = (f"mean |err| {100 * row['mean_abs_rel_error_reachable']:.2f}% max {100 * row['max_abs_rel_error_reachable']:.2f}%"
               if reach else "no image reachable")
        print(f"{spec:<10} target {target:<5g} n={row['images']:<3} reachable {row['reachable']:>2}  "
              f"within {TOLERANCE:.0%}: {row['within_5pct_of_reachable']}/{row['reachable']}  {err}  "
              f"encodes/image {row['mean_encodes']:.1f}  non-monotonic {row['non_monotonic']}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codecs", default=",".join(STANDARD), help="codec specs for the rate sweep")
    ap.add_argument("--images", type=int, default=24, help="first N Kodak images")
    ap.add_argument("--targets", default="0.1,0.2", help="target bpps for part 2 ('' to skip)")
    ap.add_argument("--target-codecs", default="jpeg,webp,hevc,vvc")
    ap.add_argument("--target-images", type=int, default=24, help="first N Kodak images for part 2")
    ap.add_argument("--json", help="also write all rows to this file")
    args = ap.parse_args()

    stems = sorted(p.stem for p in KODAK.glob("kodim*.png"))
    if not stems:
        raise SystemExit(f"no Kodak images under {KODAK}; set BENCH_DATA")
    images = {s: load_rgb(KODAK / f"{s}.png") for s in stems}
    codecs = CODECS.load_all()
    out = {"sweep": [], "targeting": [], "skipped": {}}
    print(f"== part 1: default rates, {min(args.images, len(stems))} Kodak images ==", flush=True)
    for spec in filter(None, args.codecs.split(",")):
        reason = codecs[spec.split(":")[0]].unavailable()
        if reason:
            out["skipped"][spec] = reason
            print(f"{spec:<10} skipped: not available: {reason}", flush=True)
            continue
        out["sweep"] += sweep(spec, dict(list(images.items())[:args.images]))
    targets = [float(t) for t in args.targets.split(",") if t.strip()]
    if targets:
        print(f"== part 2: --target-bpp {args.targets}, {min(args.target_images, len(stems))} images ==", flush=True)
        for spec in filter(None, args.target_codecs.split(",")):
            out["targeting"] += targeting(spec, dict(list(images.items())[:args.target_images]), targets)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    missed = [f"{r['codec']} at {r['target_bpp']:g} bpp: {r['reachable'] - r['within_5pct_of_reachable']} image(s)"
              for r in out["targeting"] if r["within_5pct_of_reachable"] < r["reachable"]]
    if missed:
        print(f"FAILED: reachable targets missed by more than {TOLERANCE:.0%}: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
