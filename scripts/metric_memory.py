"""Peak memory and time of PSNR, MS-SSIM and LPIPS on one large image pair, whole-image vs tiled.

    python scripts/metric_memory.py [--size 6000x4000] [--metrics psnr,ms-ssim,lpips,lpips+mask]
    python scripts/metric_memory.py --bpp        # bytes_per_pixel: working memory over one 1024x1024 pair
    python scripts/metric_memory.py --psnr-speed # PSNR on a 768x512 batch of 8: uint8 path vs float64

Each measurement runs in a fresh subprocess. "peak" is that process's ru_maxrss (Python, torch, the
metric, the input pair built as the harness passes it, and the call; "+mask": then also the ROI and
background values of a soft mask, as the harness asks a mask-capable metric); "before" is the whole-image
path (tiling threshold set to infinity; PSNR on float32 input, in one band), as before tiling existed.
--bpp reports (peak during the call - RSS after building the metric) / pixels, on the path the harness
uses (uint8 PSNR): the pair plus the call's working memory; the peak is VmHWM reset after building
the pair (/proc/self/clear_refs), since ru_maxrss cannot be reset.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path


def pair(h: int, w: int, uint8: bool):
    """Smooth-ish 8-bit content plus noise, built in row bands into the final tensors (no full-size
    temporaries): uint8 or float32 in [0, 1] like the harness's input."""
    import torch
    out = [torch.empty(1, 3, h, w, dtype=torch.uint8 if uint8 else torch.float32) for _ in range(2)]
    g = torch.Generator().manual_seed(0)
    xs = torch.arange(w, dtype=torch.float32)
    for y0 in range(0, h, 256):
        ys = torch.arange(y0, min(y0 + 256, h), dtype=torch.float32)[:, None]
        ref = torch.stack([128 + 100 * torch.sin(xs / 17 + c) * torch.cos(ys / 23 + c) for c in range(3)])
        ref = (ref + 6 * torch.randn(ref.shape, generator=g)).clamp(0, 255).round()
        dist = (ref + 8 * torch.randn(ref.shape, generator=g)).clamp(0, 255).round()
        for t, v in zip(out, (ref, dist)):
            t[0, :, y0:y0 + len(ys)] = v if uint8 else v / 255
    return out


def child(name: str, h: int, w: int, before: bool, bpp: bool) -> None:
    import torch

    from bench.metrics import _tiles
    from bench.metrics.base import get_metric_class
    from bench.metrics.psnr import masked_mse_255, psnr_from_mse
    name, regions = name.removesuffix("+mask"), name.endswith("+mask")
    metric = get_metric_class(name)("cpu")
    status = lambda key: int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024
    base = status("VmRSS")
    if before:
        _tiles.TILE_ABOVE = float("inf")
    ref, dist = pair(h, w, uint8=metric.input_dtype == "uint8" and not before)
    _tiles.release_freed_memory()       # drop the builder's freed temporaries (run-to-run noise)
    Path("/proc/self/clear_refs").write_text("5")     # VmHWM := current RSS (pair built, its temporaries freed)
    t = time.perf_counter()
    with torch.no_grad():
        if name == "psnr" and before:
            value = psnr_from_mse(masked_mse_255(ref, dist, band_elems=1 << 62))
        else:
            value = metric(ref, dist)
        if regions:     # as the harness: full image, then ROI and background of a soft mask
            mask = torch.linspace(-1, 2, w).clamp(0, 1).expand(1, 1, h, w).contiguous()
            value = metric(ref, dist, mask)
            metric(ref, dist, 1 - mask)
    print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "sec": time.perf_counter() - t,
                      "bpp": (status("VmHWM") - base) / (h * w) if bpp else None, "value": float(value[0])}))


def psnr_speed() -> None:
    """Best of 5: the uint8 path (as the harness calls PSNR now) vs float input in one float64 band (before)."""
    import torch

    from bench.metrics.psnr import masked_mse_255
    ref, dist = (torch.cat([p] * 8) for p in pair(512, 768, uint8=True))
    reff, distf = ref.float() / 255, dist.float() / 255

    def best(*args, **kw) -> float:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            masked_mse_255(*args, **kw)
            times.append(time.perf_counter() - t)
        return min(times)
    before, after = best(reff, distf, band_elems=1 << 62), best(ref, dist)
    print(f"psnr 8x3x512x768: float64 whole {before * 1e3:.1f} ms, uint8 banded {after * 1e3:.1f} ms "
          f"({before / after:.1f}x)")


def measure(name: str, h: int, w: int, before: bool, bpp: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--size", f"{w}x{h}"] + ["--before"] * before + ["--bpp"] * bpp
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="6000x4000", help="WxH")
    ap.add_argument("--metrics", default="psnr,ms-ssim,lpips")
    ap.add_argument("--bpp", action="store_true")
    ap.add_argument("--psnr-speed", action="store_true")
    ap.add_argument("--before", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    if args.child:
        return child(args.child, h, w, args.before, args.bpp)
    if args.psnr_speed:
        return psnr_speed()
    names = args.metrics.split(",")
    if args.bpp:
        for name in names:
            print(f"{name:10s} {measure(name, 1024, 1024, before=False, bpp=True)['bpp']:8.1f} bytes/pixel")
        return
    print(f"{w}x{h}      path      peak MB   time s   value")
    for name in names:
        for before in (True, False):
            r = measure(name, h, w, before)
            print(f"{name:10s} {'whole' if before else 'tiled':8s} {r['peak'] / 2**20:9.0f} {r['sec']:8.1f}   {r['value']:.6f}")


if __name__ == "__main__":
    main()
