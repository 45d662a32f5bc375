"""BPG (Fabrice Bellard's HEVC-intra image format) through the user-provided bpgenc/bpgdec.

4:4:4 YCbCr, 8-bit, x265 back end, QP knob (bpgenc -q). The bitstream is the .bpg file
(its small header carries the size). Binaries: the option dir=FOLDER (`bench run --codecs
bpg:dir=/opt/bpg`), then $BENCH_BPG_DIR (or its bin/), then PATH.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.codec import Codec, register_codec
from bench.errors import CodecUnavailable
from bench.image import load_rgb

from ._tools import find_binary, missing_binary, not_found_message, run, version_line

ENCODERS = ("bpgenc",)
DECODERS = ("bpgdec",)
ENV_VAR = "BENCH_BPG_DIR"


@register_codec
class BPG(Codec):
    name = "bpg"
    rate_param = "qp"
    rate_range = (0, 51)
    rate_increases_bpp = False
    default_rates = (22, 27, 32, 37)
    extension = "bpg"
    description = "BPG (user-provided bpgenc/bpgdec), 4:4:4 8-bit, x265 back end, QP knob"

    def __init__(self, dir: str | None = None, chroma: str = "444", level: int = 8, **options):
        super().__init__(chroma=chroma, level=level, **options)     # dir: where, not what (see vtm)
        self.dir, self.chroma, self.level = dir, str(chroma), int(level)

    def binaries(self) -> tuple[str, str]:
        enc, dec = find_binary(ENCODERS, ENV_VAR, self.dir), find_binary(DECODERS, ENV_VAR, self.dir)
        if not enc or not dec:
            raise CodecUnavailable(f"bpg: {not_found_message(ENCODERS if not enc else DECODERS, ENV_VAR)}")
        return enc, dec

    def encoder_command(self, encoder: str, png: str, out: str, qp: int) -> list[str]:
        return [encoder, "-q", str(int(qp)), "-f", self.chroma, "-b", "8", "-e", "x265",
                "-m", str(self.level), "-o", out, png]

    def decoder_command(self, decoder: str, bpg: str, png: str) -> list[str]:
        return [decoder, "-o", png, bpg]

    def encode(self, image: np.ndarray, rate: float, roi=None) -> bytes:
        encoder, _ = self.binaries()
        with tempfile.TemporaryDirectory(prefix="bench-bpg-") as tmp:
            png, out = Path(tmp, "in.png"), Path(tmp, "out.bpg")
            Image.fromarray(np.ascontiguousarray(image)).save(png, compress_level=1)
            run(self.encoder_command(encoder, str(png), str(out), rate), cwd=tmp)
            return out.read_bytes()

    def decode(self, data: bytes) -> np.ndarray:
        _, decoder = self.binaries()
        with tempfile.TemporaryDirectory(prefix="bench-bpg-") as tmp:
            bpg, png = Path(tmp, "in.bpg"), Path(tmp, "out.png")
            bpg.write_bytes(data)
            run(self.decoder_command(decoder, str(bpg), str(png)), cwd=tmp)
            return load_rgb(png)

    def versions(self) -> dict:
        encoder, _ = self.binaries()
        return {"bpgenc": version_line((encoder, "-h"), r"BPG Image Encoder version (\S+)")}

    def unavailable_here(self) -> str | None:
        return missing_binary((ENCODERS, DECODERS), ENV_VAR, self.dir)

    @classmethod
    def unavailable(cls) -> str | None:
        return missing_binary((ENCODERS, DECODERS), ENV_VAR)
