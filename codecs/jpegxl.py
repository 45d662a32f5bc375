"""JPEG XL through libjxl (imagecodecs), lossy VarDCT driven by the Butteraugli distance.

The bitstream is a bare JPEG XL codestream (no ISO-BMFF container): it carries the image
size and colour encoding, and nothing a decoder does not need.
"""

from __future__ import annotations

import numpy as np

from bench.codec import Codec, register_codec


@register_codec
class JPEGXL(Codec):
    name = "jpegxl"
    rate_param = "distance"                 # Butteraugli distance: 1.0 ~ visually lossless, 25 = max
    rate_range = (0.1, 25.0)
    rate_is_integer = False
    rate_increases_bpp = False
    default_rates = (1.0, 2.0, 4.0, 8.0)
    extension = "jxl"
    description = "JPEG XL (libjxl via imagecodecs), VarDCT, Butteraugli distance knob, effort 7"

    def __init__(self, effort: int = 7, **options):
        super().__init__(effort=effort, **options)
        self.effort = int(effort)

    def encode(self, image: np.ndarray, rate: float, roi=None) -> bytes:
        import imagecodecs
        return bytes(imagecodecs.jpegxl_encode(np.ascontiguousarray(image), distance=float(rate),
                                               effort=self.effort, usecontainer=False, numthreads=1))

    def decode(self, data: bytes) -> np.ndarray:
        import imagecodecs
        return np.asarray(imagecodecs.jpegxl_decode(data), dtype=np.uint8)

    def versions(self) -> dict:
        import imagecodecs
        return {"imagecodecs": imagecodecs.__version__, "libjxl": imagecodecs.jpegxl_version()}

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            import imagecodecs
        except ImportError:
            return "imagecodecs is not installed; pip install imagecodecs"
        return None if imagecodecs.JPEGXL.available else "this imagecodecs build lacks libjxl"
