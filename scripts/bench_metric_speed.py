"""Time per image of each metric on this machine (prints a table; not a test).

    python scripts/bench_metric_speed.py [--images 4] [--device cpu] [--metrics psnr,lpips,...]

Inputs: the first N Kodak images (BENCH_DATA/kodak, else /work/shared/datasets/kodak) and
their JPEG (quality 30, Pillow) reconstructions, batched like `bench run` (equal sizes).
Per-image metrics are timed on the full image and, for mask-capable ones, with a mask
(ROI + background calls). FID/KID: Inception features of the patches of the original and
the reconstruction (the per-image cost), plus the dataset-level formula once.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def kodak_dir() -> Path:
    root = Path(os.environ.get("BENCH_DATA", "/work/shared/datasets"))
    return root / "kodak"


def load_pairs(n: int):
    refs, dists = [], []
    for p in sorted(kodak_dir().glob("kodim*.png"))[:n]:
        img = Image.open(p).convert("RGB")
        if img.size != (768, 512):           # keep one batchable size (portrait images rotated)
            img = img.transpose(Image.Transpose.ROTATE_90)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=30)
        refs.append(np.asarray(img))
        dists.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return refs, dists


def to_tensor(arrays, device):
    return torch.from_numpy(np.stack(arrays).astype(np.float32) / 255).permute(0, 3, 1, 2).contiguous().to(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--metrics", default="psnr,ms-ssim,lpips,lpips-vgg,dists,musiq,clipiqa,fid,kid")
    args = ap.parse_args()

    from bench.metrics.base import get_metric_class
    refs, dists = load_pairs(args.images)
    if not refs:
        raise SystemExit(f"no Kodak images under {kodak_dir()}")
    ref, dist = to_tensor(refs, args.device), to_tensor(dists, args.device)
    mask = torch.zeros_like(ref[:, :1])
    mask[..., 128:384, 256:512] = 1.0
    print(f"{len(refs)} Kodak images 768x512, JPEG q30, device {args.device}, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'metric':<10} {'setup s':>8} {'s/image':>9} {'s/image roi+bg':>15}  value (mean)")
    for name in args.metrics.split(","):
        cls = get_metric_class(name)
        reason = cls.unavailable()
        if reason:
            print(f"{name:<10} skipped: {reason.split(':')[0]}")
            continue
        t0 = time.perf_counter()
        m = cls(device=args.device)
        setup = time.perf_counter() - t0
        if cls.kind == "distribution":
            t0 = time.perf_counter()
            fr = np.concatenate([m.image_features(r) for r in refs])
            fd = np.concatenate([m.image_features(d) for d in dists])
            per_image = (time.perf_counter() - t0) / len(refs)
            t0 = time.perf_counter()
            value = m.from_features(fr, fd)[0]
            formula = time.perf_counter() - t0
            print(f"{name:<10} {setup:>8.2f} {per_image:>9.3f} {'-':>15}  {value:.4g} "
                  f"({len(fr)} patches; features of original + reconstruction; formula {formula:.2f} s once)")
            continue
        with torch.no_grad():
            t0 = time.perf_counter()
            value = m(ref, dist).mean().item()
            per_image = (time.perf_counter() - t0) / len(refs)
            masked = "-"
            if cls.supports_mask:
                t0 = time.perf_counter()
                m(ref, dist, mask), m(ref, dist, 1 - mask)
                masked = f"{(time.perf_counter() - t0) / len(refs):.3f}"
        print(f"{name:<10} {setup:>8.2f} {per_image:>9.3f} {masked:>15}  {value:.4f}")


if __name__ == "__main__":
    main()
