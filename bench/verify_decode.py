"""`python -m bench.verify_decode SPEC FILE`: decode a bitstream from its bytes alone, in a
fresh interpreter, and print the pixel sha256 (used by `bench run --verify-decode`)."""

from __future__ import annotations

import argparse
import sys

from .codec_registry import make_codec
from .image import pixel_sha256


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("bitstream")
    ap.add_argument("--codec-path", action="append", default=[])
    args = ap.parse_args()
    codec = make_codec(args.spec, args.codec_path)
    with open(args.bitstream, "rb") as fh:
        recon = codec.decode(fh.read())
    print(pixel_sha256(recon))


if __name__ == "__main__":
    sys.exit(main())
