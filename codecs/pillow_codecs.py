"""JPEG, WebP and AVIF through Pillow (libjpeg-turbo, libwebp, libavif built into its wheels).

Bitstreams are the complete files Pillow writes (headers included).
"""

from __future__ import annotations

import io
import math
from typing import ClassVar

import numpy as np
from PIL import Image, features

from bench.codec import Codec, register_codec
from bench.image import decode_rgb_bytes


class PillowCodec(Codec):
    format: ClassVar[str]
    feature: ClassVar[str]                 # PIL.features name, for availability and version
    save_args: ClassVar[dict] = {}         # fixed encoder settings of this variant
    rate_param = "quality"
    rate_range = (0, 100)

    def encode(self, image: np.ndarray, rate: float, roi=None) -> bytes:
        buf = io.BytesIO()
        quality = int(rate) if self.rate_is_integer else float(rate)
        Image.fromarray(image).save(buf, format=self.format, quality=quality,
                                    **{**self.save_args, **self.options})
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        return decode_rgb_bytes(data)

    def versions(self) -> dict:
        return {"pillow": Image.__version__, self.feature: str(features.version(self.feature))}

    def describe(self) -> dict:
        return {**super().describe(), "settings": self.save_args}

    @classmethod
    def unavailable(cls) -> str | None:
        if not features.check(cls.feature):
            return f"this Pillow ({Image.__version__}) was built without {cls.feature}; install Pillow>=11.3 wheels"
        return None


def _ijg_base_tables() -> list[list[int]]:
    """libjpeg's base (Annex K) tables, as its quality-50 tables (scale factor 100 = the base)."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG", quality=50)
    with Image.open(buf) as img:
        return [list(img.quantization[0]), list(img.quantization[1])]


def ijg_qtables(quality: float) -> list[list[int]]:
    """libjpeg's quality scaling (jpeg_quality_scaling + jpeg_add_quant_table, baseline) for any
    real quality. The scale factor is floored to libjpeg's integer percent, so integer qualities
    give libjpeg's own tables and fractional ones the integer scale factors in between: the
    finer knob --target-bpp needs (libjpeg's API takes only integer qualities)."""
    q = min(max(float(quality), 1.0), 100.0)
    scale = math.floor(5000.0 / q) if q < 50 else math.floor(200.0 - 2.0 * q)
    return [[min(max((b * scale + 50) // 100, 1), 255) for b in table] for table in _ijg_base_tables()]


@register_codec
class JPEG(PillowCodec):
    name = "jpeg"
    description = "JPEG (libjpeg-turbo via Pillow), 4:2:0, optimized Huffman tables, IJG tables"
    format, feature, extension = "JPEG", "jpg", "jpg"
    save_args = {"subsampling": "4:2:0", "optimize": True}
    default_rates = (5, 10, 20, 30, 50, 70, 85, 95)
    rate_range = (1, 100)
    rate_is_integer = False     # fractional qualities: IJG scale factors between the integer ones

    def encode(self, image: np.ndarray, rate: float, roi=None) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", qtables=ijg_qtables(rate),
                                    **{**self.save_args, **self.options})
        return buf.getvalue()


@register_codec
class JPEG444(JPEG):
    name = "jpeg-444"
    description = "JPEG (libjpeg-turbo via Pillow), 4:4:4, optimized Huffman tables, IJG tables"
    save_args = {"subsampling": "4:4:4", "optimize": True}


@register_codec
class WebP(PillowCodec):
    name = "webp"
    description = "WebP lossy (libwebp via Pillow), method 6"
    format, feature, extension = "WEBP", "webp", "webp"
    save_args = {"method": 6, "lossless": False}
    rate_is_integer = False        # libwebp's quality is a float; --target-bpp needs the finer steps
    default_rates = (5, 20, 40, 60, 75, 90)


@register_codec
class AVIF(PillowCodec):
    name = "avif"
    description = "AVIF (libavif/aom via Pillow), 4:4:4, speed 6, one thread"
    format, feature, extension = "AVIF", "avif", "avif"
    # One encoder thread: the harness parallelises over images (--workers), and per-image times
    # stay comparable with the single-threaded codecs. Pass avif:max_threads=N to change it.
    save_args = {"subsampling": "4:4:4", "speed": 6, "max_threads": 1}
    default_rates = (20, 35, 50, 65, 80, 90)
