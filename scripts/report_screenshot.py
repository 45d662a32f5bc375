#!/usr/bin/env python3
"""Screenshot a report page with headless Chromium, the way a person would see it from disk.

    python scripts/report_screenshot.py results/report/index.html report.png [--size 1400x2000]

Needs Debian's `chromium` package (apt-get install -y chromium). The flags keep Chromium
off the network (no background services, no component updates), so it works offline.
Prints the PNG path and how much of it is not blank.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: Path, png: Path, width: int = 1400, height: int = 2000, timeout: float = 120) -> Path:
    exe = find_chromium()
    if exe is None:
        raise SystemExit("chromium not found; install it with: apt-get install -y chromium")
    html, png = Path(html).resolve(), Path(png).resolve()
    if not html.is_file():
        raise SystemExit(f"{html} not found")
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
               f"--window-size={width},{height}", html.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise SystemExit(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return png


def content_fraction(png: Path) -> float:
    """Share of pixels that differ from the page background (white): 0 means blank."""
    import numpy as np
    from PIL import Image
    with Image.open(png) as img:
        a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return float((np.abs(a - 255).sum(axis=2) > 30).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--size", default="1400x2000", help="window WIDTHxHEIGHT in pixels")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    png = screenshot(args.html, args.png, width, height)
    print(f"{png}  ({content_fraction(png):.1%} of pixels not blank)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
