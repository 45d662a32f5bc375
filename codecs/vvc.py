"""VVC intra through VVenC, run by the static ffmpeg bundled in imageio-ffmpeg (libvvenc).

4:2:0 10-bit (the only input VVenC takes), BT.709 limited range signalled in the VUI,
perceptual QP adaptation (QPA) off so the QP knob is a plain constant QP as in the
JVET common test conditions. The bitstream is the raw annex-B .266 stream, which
carries the picture size; it is decoded with FFmpeg's native VVC decoder (libavcodec
through PyAV, no subprocess).
"""

from __future__ import annotations

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


@register_codec
class VVC(Codec):
    name = "vvc"
    rate_param = "qp"
    rate_range = (0, 63)
    rate_increases_bpp = False
    default_rates = (22, 27, 32, 37)       # the JVET common-test-condition QPs
    extension = "266"
    description = "VVC intra (VVenC via ffmpeg), 4:2:0 10-bit BT.709, QPA off, constant QP"

    def __init__(self, preset: str = "medium", **options):
        super().__init__(preset=preset, **options)
        self.preset = preset

    def command(self, width: int, height: int, qp: int) -> list[str]:
        return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-i", "-",
                "-vf", f"scale={FFMPEG_SCALE},format=yuv420p10le", *FFMPEG_TAGS,
                "-c:v", "libvvenc", "-preset", self.preset, "-qp", str(int(qp)), "-qpa", "0",
                "-frames:v", "1", "-f", "vvc", "-"]

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
