"""Decoding a stored bitstream from its bytes alone, in a fresh interpreter.

`bench run --verify-decode` runs `python -m bench.codec.verify_decode SPEC FILE`, which
prints the decoded pixels' sha256; any state an adapter kept between encode and decode in
the worker is then missing, so a bitstream that lacks something the decoder needs fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ..image import pixel_sha256
from .registry import make_codec


def verify_in_fresh_process(spec: str, bitstream: Path, expected_hash: str,
                            codec_paths: list[str] = (), device: str = "cpu") -> str | None:
    """None when a new interpreter decodes the same pixels (on `device`), else why not."""
    cmd = [sys.executable, "-m", "bench.codec.verify_decode", spec, str(bitstream), "--device", device]
    for p in codec_paths:
        cmd += ["--codec-path", p]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode
        return f"decode in a fresh process failed: {last}"
    got = proc.stdout.strip().splitlines()[-1]
    return None if got == expected_hash else "decode in a fresh process gave different pixels"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("bitstream")
    ap.add_argument("--codec-path", action="append", default=[])
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    codec = make_codec(args.spec, args.codec_path)
    codec.load(args.device)
    with open(args.bitstream, "rb") as fh:
        recon = codec.decode(fh.read())
    print(pixel_sha256(recon))


if __name__ == "__main__":
    sys.exit(main())
