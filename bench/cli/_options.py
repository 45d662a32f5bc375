"""Options shared by every command, so `--out`, `--codecs`, ... mean the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import BenchError

Out = typer.Option(Path("results"), "--out", help="Results folder (database + artifacts).")
Codecs = typer.Option(None, "--codecs", "-c", help="Comma-separated codec names, e.g. jpeg,webp (options: jpeg:optimize=true).")
Rates = typer.Option(None, "--rates", "-r", help="Comma-separated rate-knob values overriding each codec's default sweep.")
Metrics = typer.Option(None, "--metrics", "-m", help="Comma-separated metric names (default: psnr,ms-ssim).")
Dataset = typer.Option(None, "--dataset", "-d", help="Dataset name (bench list datasets) or a folder of images.")
Device = typer.Option("auto", "--device", help="Where metrics (and GPU codecs) run: auto, cpu, cuda, cuda:N.")
CodecPath = typer.Option(None, "--codec-path", help="Extra folder(s) with codec adapter files (also BENCH_CODEC_PATH).")


def split_list(value: Optional[str]) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def split_codecs(value: Optional[str]) -> list[str]:
    """--codecs: 'jpeg,webp' or with options 'mbt2018:pretrained=false,seed=1,jpeg': a key=value
    item without a codec name continues the options of the codec before it."""
    specs: list[str] = []
    for item in split_list(value):
        if specs and "=" in item and ":" not in item.split("=", 1)[0] and ":" in specs[-1]:
            specs[-1] += "," + item
        else:
            specs.append(item)
    return specs


def parse_rates(value: Optional[str]) -> list[float]:
    out = []
    for item in split_list(value):
        try:
            out.append(float(item))
        except ValueError:
            raise BenchError(f"--rates: '{item}' is not a number") from None
    return out
