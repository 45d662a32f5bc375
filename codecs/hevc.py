"""HEVC intra through x265 (PyAV's libx265): 4:2:0 and 4:4:4 at constant QP, and an ROI variant.

The bitstream is the raw annex-B stream (VPS/SPS/PPS + one IDR picture), which carries the
picture size. x265's "info" SEI (its version and full option string, ~1-2 KB) is turned
off: it is not image data and would dominate the rate of small or low-rate pictures.

hevc-roi turns the ROI importance map into per-block QP offsets: FFmpeg's `addroi`
filter attaches them as region-of-interest side data, which libx265 applies on its
16x16 adaptive-quantisation grid. x265 ignores those offsets at constant QP, so this
variant is driven by CRF (with AQ on).
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import ClassVar

import av
import numpy as np

from bench.codec import Codec, register_codec
from bench.errors import CodecError

from ._video import (
    MATRIX,
    RANGE,
    decode_annexb,
    frame_to_rgb,
    libav_versions,
    rgb_to_frame,
)

ROI_BLOCK = 16          # libx265 maps ROI side data onto 16x16 blocks (8x8 only with qg-size=8)
QP_RANGE_8BIT = 51      # libx265 scales addroi's qoffset (a fraction in [-1, 1]) by this for 8-bit


class X265Intra(Codec):
    pix_fmt: ClassVar[str]
    rate_param = "qp"
    rate_range = (0, 51)
    rate_increases_bpp = False
    default_rates = (22, 27, 32, 37)        # the HEVC common-test-condition QPs
    extension = "hevc"

    def __init__(self, preset: str = "medium", **options):
        super().__init__(preset=preset, **options)
        self.preset = preset

    def rate_params(self, rate: float) -> list[str]:
        return [f"qp={int(rate)}"]

    def encode(self, image: np.ndarray, rate: float, roi: np.ndarray | None = None) -> bytes:
        return self.encode_frame(rgb_to_frame(self.check_size(image), self.pix_fmt), self.rate_params(rate))

    def decode(self, data: bytes) -> np.ndarray:
        return frame_to_rgb(decode_annexb(data, "hevc"))

    def check_size(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if self.pix_fmt.startswith("yuv420") and (h % 2 or w % 2):
            raise CodecError(f"{self.name} codes 4:2:0, which needs an even width and height "
                             f"(got {w}x{h}); use hevc-444")
        return image

    def encode_frame(self, frame: av.VideoFrame, params: list[str]) -> bytes:
        ctx = av.CodecContext.create("libx265", "w")
        ctx.width, ctx.height, ctx.pix_fmt = frame.width, frame.height, self.pix_fmt
        ctx.time_base = ctx.framerate = Fraction(1, 1)
        ctx.colorspace, ctx.color_range = MATRIX, RANGE
        ctx.color_primaries = ctx.color_trc = 1                       # BT.709, written to the VUI
        ctx.options = {"preset": self.preset,
                       "x265-params": ":".join(params + ["keyint=1", "info=0", "log-level=error"])}
        frame.pts = 0
        try:
            packets = ctx.encode(frame) + ctx.encode(None)
        except av.error.FFmpegError as exc:
            raise CodecError(f"libx265 failed: {exc}") from None
        return b"".join(bytes(p) for p in packets)

    def versions(self) -> dict:
        return {**libav_versions(), "x265": x265_version()}

    def describe(self) -> dict:
        return {**super().describe(), "pix_fmt": self.pix_fmt, "colour": "BT.709 limited range"}


@functools.cache
def x265_version() -> str:
    """The x265 build inside PyAV's wheel, read from the SEI it writes when asked (no API for it)."""
    ctx = av.CodecContext.create("libx265", "w")
    ctx.width = ctx.height = 64
    ctx.pix_fmt, ctx.time_base = "yuv420p", Fraction(1, 1)
    ctx.options = {"x265-params": "qp=40:log-level=error"}
    frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    data = b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))
    match = re.search(rb"x265 \(build (\d+)\) - ([\w.+-]+)", data)
    return f"{match.group(2).decode()} (build {match.group(1).decode()})" if match else "unknown"


@register_codec
class HEVC(X265Intra):
    name = "hevc"
    pix_fmt = "yuv420p"
    description = "HEVC intra (x265 via PyAV), 4:2:0 8-bit BT.709, constant QP"


@register_codec
class HEVC444(X265Intra):
    name = "hevc-444"
    pix_fmt = "yuv444p"
    description = "HEVC intra (x265 via PyAV), 4:4:4 8-bit BT.709, constant QP"


@register_codec
class HEVCROI(X265Intra):
    name = "hevc-roi"
    pix_fmt = "yuv420p"
    rate_param = "crf"                      # x265 rounds a single picture's CRF to a whole QP anyway
    supports_roi = True
    description = ("HEVC intra (x265 via PyAV), 4:2:0, CRF; ROI map -> per-16x16-block QP offsets "
                   "(roi_qp inside, background_qp outside)")

    def __init__(self, preset: str = "medium", roi_qp: int = -6, background_qp: int = 6, **options):
        super().__init__(preset=preset, roi_qp=roi_qp, background_qp=background_qp, **options)
        self.roi_qp, self.background_qp = int(roi_qp), int(background_qp)

    def rate_params(self, rate: float) -> list[str]:
        return [f"crf={int(rate)}"]

    def encode(self, image: np.ndarray, rate: float, roi: np.ndarray | None = None) -> bytes:
        frame = rgb_to_frame(self.check_size(image), self.pix_fmt)
        if roi is not None:
            regions = qp_offset_regions(roi, self.roi_qp, self.background_qp)
            frame = attach_roi(frame, regions)
        return self.encode_frame(frame, self.rate_params(rate))


def qp_offset_regions(roi: np.ndarray, roi_qp: int, background_qp: int,
                      block: int = ROI_BLOCK) -> list[tuple[int, int, int, int, int]]:
    """ROI map -> disjoint rectangles (x, y, w, h, qp_offset) covering every block whose offset is not 0.

    A block's offset interpolates between background_qp (importance 0) and roi_qp
    (importance 1) by its mean importance. Equal-offset runs along a block row are
    merged, then identical runs on consecutive rows, so a box mask gives few rectangles.
    """
    roi = np.asarray(roi, dtype=np.float32)
    h, w = roi.shape
    by, bx = -(-h // block), -(-w // block)
    padded = np.pad(roi, ((0, by * block - h), (0, bx * block - w)), mode="edge")
    importance = padded.reshape(by, block, bx, block).mean(axis=(1, 3))
    offsets = np.rint(background_qp + (roi_qp - background_qp) * importance).astype(int)
    open_rects: dict[tuple[int, int, int], list[int]] = {}   # (x0, x1, offset) -> [y0, y1] in blocks
    done: list[tuple[int, int, int, int, int]] = []
    for y in range(by):
        runs, x = [], 0
        while x < bx:
            end = x
            while end + 1 < bx and offsets[y, end + 1] == offsets[y, x]:
                end += 1
            if offsets[y, x] != 0:
                runs.append((x, end + 1, int(offsets[y, x])))
            x = end + 1
        for key in list(open_rects):
            if key not in runs:
                done.append((*key, *open_rects.pop(key)))
        for key in runs:
            open_rects.setdefault(key, [y, y])[1] = y + 1
    done += [(*key, *span) for key, span in open_rects.items()]
    return [(x0 * block, y0 * block, min(x1 * block, w) - x0 * block, min(y1 * block, h) - y0 * block, off)
            for x0, x1, off, y0, y1 in sorted(done, key=lambda r: (r[3], r[0]))]


def attach_roi(frame: av.VideoFrame, regions: list[tuple[int, int, int, int, int]]) -> av.VideoFrame:
    """Run the frame through one `addroi` filter per rectangle (the regions are disjoint)."""
    if not regions:
        return frame
    graph = av.filter.Graph()
    last = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                            time_base=Fraction(1, 1))
    for x, y, w, h, offset in regions:
        node = graph.add("addroi", f"x={x}:y={y}:w={w}:h={h}:qoffset={offset}/{QP_RANGE_8BIT}")
        last.link_to(node)
        last = node
    sink = graph.add("buffersink")
    last.link_to(sink)
    graph.configure()
    frame.pts = 0
    graph.push(frame)
    out = graph.pull()
    out.colorspace, out.color_range = MATRIX, RANGE
    return out
