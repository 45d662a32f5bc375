"""JPEG 2000 through OpenJPEG (Pillow's JPEG2000 plugin): irreversible 9/7 wavelet with the
irreversible colour transform (ICT), one quality layer at a target rate.

The knob is the target bits per pixel, handed to OpenJPEG's rate allocator as the
compression ratio 24 / bpp (8 bits x 3 components); OpenJPEG lands just under it. Pillow
is used rather than imagecodecs because imagecodecs only exposes OpenJPEG's PSNR target,
not its rate. The bitstream is the bare J2K codestream (no JP2 box wrapper).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, features

from bench.codec import Codec, register_codec
from bench.image import decode_rgb_bytes

BITS_PER_SAMPLE = 8 * 3


@register_codec
class JPEG2000(Codec):
    name = "jpeg2000"
    rate_param = "bpp"
    rate_range = (0.01, 8.0)
    rate_is_integer = False
    default_rates = (0.125, 0.25, 0.5, 1.0)
    extension = "j2k"
    description = "JPEG 2000 (OpenJPEG via Pillow), 9/7 irreversible + ICT, target-bpp knob, J2K codestream"

    def encode(self, image: np.ndarray, rate: float, roi=None) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(
            buf, format="JPEG2000", no_jp2=True, irreversible=True, mct=1,
            quality_mode="rates", quality_layers=[BITS_PER_SAMPLE / float(rate)])
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        return decode_rgb_bytes(data)

    def versions(self) -> dict:
        return {"pillow": Image.__version__, "openjpeg": str(features.version("jpg_2000"))}

    @classmethod
    def unavailable(cls) -> str | None:
        if not features.check("jpg_2000"):
            return f"this Pillow ({Image.__version__}) was built without OpenJPEG"
        return None
