"""VVC intra through VVenC, run by the static ffmpeg bundled in imageio-ffmpeg (libvvenc).

4:2:0 10-bit (the only input VVenC takes), BT.709 limited range signalled in the VUI,
perceptual QP adaptation (QPA) off so the QP knob is a plain constant QP as in the
JVET common test conditions, and IntraQPOffset=0 so that it is the I-slice QP (VVenC
otherwise codes the picture 3 QP finer than asked). The bitstream is the raw annex-B .266
stream, which carries the picture size; it is decoded with FFmpeg's native VVC decoder
(libavcodec through PyAV, no subprocess).

Fractional QP (what --target-bpp needs: one QP step is 10-17 % of the rate) follows the
lambda-domain rule that VTM's and VVenC's rate control use: the slice QP is the nearest
whole QP and the intra Lagrange multiplier is the fractional QP's, lambda ~ 2^((qp-12)/3),
set through VVenC's LambdaModifierI = 2^((qp - slice QP)/3). VVenC takes no per-block QP
map, so this is the finest honest knob it has: bpp moves smoothly within a slice QP and
steps by about 5 % where the slice QP changes.
"""

from __future__ import annotations

import math

import numpy as np

from bench.codec import Codec, register_codec
from bench.errors import CodecError

from ._tools import ffmpeg_exe, run, version_line
from ._video import (
    FFMPEG_SCALE,
    FFMPEG_TAGS,
    decode_annexb,
    frame_to_rgb,
    libav_versions,
)

FIXED_PARAMS = ["IntraQPOffset=0"]


@register_codec
class VVC(Codec):
    name = "vvc"
    rate_param = "qp"
    rate_range = (0, 63)
    rate_is_integer = False                # fractional QP: lambda-domain (see the module doc)
    rate_increases_bpp = False
    default_rates = (22, 27, 32, 37)       # the JVET common-test-condition QPs
    extension = "266"
    description = "VVC intra (VVenC via ffmpeg), 4:2:0 10-bit BT.709, QPA off, I-slice QP (fractional: lambda)"

    def __init__(self, preset: str = "medium", **options):
        super().__init__(preset=preset, **options)
        self.preset = preset

    def command(self, width: int, height: int, qp: float) -> list[str]:
        slice_qp = math.floor(qp + 0.5)
        params = [*FIXED_PARAMS]
        if qp != slice_qp:
            params.append(f"LambdaModifierI={2 ** ((qp - slice_qp) / 3):.6f}")
        return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-i", "-",
                "-vf", f"scale={FFMPEG_SCALE},format=yuv420p10le", *FFMPEG_TAGS,
                "-c:v", "libvvenc", "-preset", self.preset, "-qp", str(slice_qp), "-qpa", "0",
                "-vvenc-params", ":".join(params), "-frames:v", "1", "-f", "vvc", "-"]

    def encode(self, image: np.ndarray, rate: float, roi=None) -> bytes:
        h, w = image.shape[:2]
        if h % 2 or w % 2:
            raise CodecError(f"vvc codes 4:2:0, which needs an even width and height (got {w}x{h})")
        data = run(self.command(w, h, rate), input=np.ascontiguousarray(image).tobytes()).stdout
        if not data:
            raise CodecError("ffmpeg/libvvenc wrote an empty bitstream")
        return data

    def decode(self, data: bytes) -> np.ndarray:
        return frame_to_rgb(decode_annexb(data, "vvc"))

    def describe(self) -> dict:
        return {**super().describe(), "vvenc_params": FIXED_PARAMS, "qpa": 0,
                "fractional_qp": "slice QP = round(qp), LambdaModifierI = 2^((qp - slice QP)/3)"}

    def versions(self) -> dict:
        exe = ffmpeg_exe()
        probe = (exe, "-hide_banner", "-nostdin", "-f", "lavfi", "-i", "color=s=64x64", "-frames:v", "1",
                 "-c:v", "libvvenc", "-preset", "faster", "-f", "null", "-")
        return {"ffmpeg": version_line((exe, "-version"), r"ffmpeg version (\S+)"),
                "vvenc": version_line(probe, r"libvvenc version: (\S+)"),
                **libav_versions()}

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            ffmpeg_exe()
        except (ImportError, RuntimeError) as exc:  # no imageio-ffmpeg, or no binary for this platform
            return f"no ffmpeg binary from imageio-ffmpeg ({exc}); pip install imageio-ffmpeg"
        return None
