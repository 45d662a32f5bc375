#!/usr/bin/env python3
"""Encode and decode seconds per Kodak image for every network codec, on this machine.

Random weights (`pretrained=false`) cost the same time as trained ones (same layers, same
entropy coder; only the number of coded symbols differs a little), so this runs offline:

    .venv/bin/python scripts/bench_learned_speed.py --images 2 --quality 3 [--device cpu]

Prints one row per codec: parameters, model build time, mean encode and decode seconds per
image (after one warm-up image that is not counted when --images > 1), bytes per image.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.codec import make_codec  # noqa: E402
from bench.image import load_rgb  # noqa: E402

CODECS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor",
          "cheng2020-attn", "illm", "illm-vlo")
KODAK = Path(os.environ.get("BENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "kodak"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2, help="Kodak images timed per codec (the first warms up)")
    ap.add_argument("--quality", type=int, default=2, help="quality index (capped at each codec's range)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--codecs", default=",".join(CODECS))
    args = ap.parse_args()
    paths = sorted(KODAK.glob("kodim*.png"))[: max(1, args.images)]
    if not paths:
        raise SystemExit(f"no Kodak images under {KODAK}; set BENCH_DATA")
    images = [load_rgb(p) for p in paths]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), device {args.device}, {len(images)} Kodak image(s) "
          f"{images[0].shape[1]}x{images[0].shape[0]}, random weights", flush=True)
    print(f"{'codec':22s} {'quality':>7s} {'params':>8s} {'build s':>8s} {'encode s':>9s} {'decode s':>9s} "
          f"{'bytes':>8s}", flush=True)
    for name in filter(None, args.codecs.split(",")):
        codec = make_codec(f"{name}:pretrained=false")
        codec.load(args.device)
        q = min(max(args.quality, codec.rate_range[0]), codec.rate_range[1])
        t0 = time.perf_counter()
        model = codec.model(q)
        build = time.perf_counter() - t0
        nets = [m for m in vars(model).values() if isinstance(m, torch.nn.Module)] or [model]
        params = sum(p.numel() for net in nets for p in net.parameters())
        enc, dec, size = [], [], []
        for img in images:
            t0 = time.perf_counter()
            data = codec.encode(img, q)
            t1 = time.perf_counter()
            codec.decode(data)
            t2 = time.perf_counter()
            enc.append(t1 - t0)
            dec.append(t2 - t1)
            size.append(len(data))
        counted = slice(1, None) if len(images) > 1 else slice(None)
        mean = lambda xs: sum(xs[counted]) / len(xs[counted])  # noqa: E731
        print(f"{name:22s} {q:7d} {params / 1e6:7.1f}M {build:8.2f} {mean(enc):9.2f} {mean(dec):9.2f} "
              f"{mean(size):8.0f}", flush=True)


if __name__ == "__main__":
    main()
