"""HEVC intra through x265 (PyAV's libx265): 4:2:0 and 4:4:4 at constant QP, and an ROI variant.

The bitstream is the raw annex-B stream (VPS/SPS/PPS + one IDR picture), which carries the
picture size. x265's "info" SEI (its version and full option string, ~1-2 KB) is turned
off: it is not image data and would dominate the rate of small or low-rate pictures.

The knob is the I-slice QP, as in the HEVC common test conditions: `ipratio=1`, since
x265 otherwise codes an I picture 6*log2(1.4) ~ 3 QP finer than the QP it is given.

Fractional QP (what --target-bpp needs: one QP step is 10-17 % of the rate) is a mixed-QP
picture: qp = q + f codes a fraction f of the 32x32 quantisation groups at q + 1 and the
rest at q. The +1 groups are whole block rows taken in bit-reversed order (then a partial
row), so they spread over the picture and the set for a larger f contains the set for a
smaller one, which keeps bpp monotonic in the knob. Per-block QP offsets reach x265 as
region-of-interest side data (FFmpeg's `addroi` filter), which libx265 applies only with
adaptive quantisation on and x265 only outside constant-QP mode. So a mixed picture is
coded in CRF mode with the CRF equal to q and an AQ strength too small to move any
block's rounded QP: x265 then reports an average QP of q + f (checked with its CSV log),
and f = 0 reproduces constant QP within 1 % of the bits. Whole-number QPs use plain
constant QP.

hevc-roi adds the ROI importance map's offsets (roi_qp inside, background_qp outside,
interpolated per 16x16 block) to that map, so it is plain hevc plus the ROI steering.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bench.codec import Codec, register_codec
from bench.errors import CodecError

from ._video import (
    colour,
    decode_annexb,
    frame_to_rgb,
    libav_versions,
    rgb_to_frame,
)

if TYPE_CHECKING:
    import av

ROI_BLOCK = 16          # libx265 maps ROI side data onto 16x16 blocks (8x8 only with qg-size=8)
QUANT_GROUP = 32        # qg-size: the unit a dithered +1 covers, so each group's QP is exact
QP_RANGE_8BIT = 51      # libx265 scales addroi's qoffset (a fraction in [-1, 1]) by this for 8-bit
FIXED_PARAMS = ["keyint=1", "ipratio=1", f"qg-size={QUANT_GROUP}", "info=0", "log-level=error"]
# per-block offsets need AQ on; 1e-4 of AQ moves no block's QP across a rounding step
MIXED_QP_PARAMS = ["aq-mode=1", "aq-strength=0.0001"]


class X265Intra(Codec):
    pix_fmt: ClassVar[str]
    rate_param = "qp"
    rate_range = (0, 51)
    rate_is_integer = False                 # fractional QP: a mixed-QP picture (see the module doc)
    rate_increases_bpp = False
    default_rates = (22, 27, 32, 37)        # the HEVC common-test-condition QPs
    extension = "hevc"

    def __init__(self, preset: str = "medium", **options):
        super().__init__(preset=preset, **options)
        self.preset = preset

    def encode(self, image: np.ndarray, rate: float, roi: np.ndarray | None = None) -> bytes:
        return self.encode_frame(*self.prepare(image, rate, roi))

    def prepare(self, image: np.ndarray, rate: float,
                roi: np.ndarray | None = None) -> tuple[av.VideoFrame, list[str]]:
        """The frame, with any per-block QP offsets attached, and its x265 rate parameters."""
        h, w = self.check_size(image).shape[:2]
        qp = min(math.floor(rate), self.rate_range[1])
        offsets = fractional_qp_offsets(h, w, rate - qp) + self.roi_offsets(roi, h, w)
        frame = rgb_to_frame(image, self.pix_fmt)
        if not offsets.any():
            return frame, [f"qp={qp}"]
        return attach_roi(frame, offset_rectangles(offsets, h, w)), [f"crf={qp}", *MIXED_QP_PARAMS]

    def roi_offsets(self, roi: np.ndarray | None, h: int, w: int) -> np.ndarray:
        return np.zeros(block_grid(h, w), int)

    def decode(self, data: bytes) -> np.ndarray:
        return frame_to_rgb(decode_annexb(data, "hevc"))

    def check_size(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if self.pix_fmt.startswith("yuv420") and (h % 2 or w % 2):
            raise CodecError(f"{self.name} codes 4:2:0, which needs an even width and height "
                             f"(got {w}x{h}); use hevc-444")
        return image

    def encode_frame(self, frame: av.VideoFrame, params: list[str]) -> bytes:
        import av
        ctx = av.CodecContext.create("libx265", "w")
        ctx.width, ctx.height, ctx.pix_fmt = frame.width, frame.height, self.pix_fmt
        ctx.time_base = ctx.framerate = Fraction(1, 1)
        ctx.colorspace, ctx.color_range = colour()[:2]
        ctx.color_primaries = ctx.color_trc = 1                       # BT.709, written to the VUI
        ctx.options = {"preset": self.preset, "x265-params": ":".join(params + FIXED_PARAMS)}
        frame.pts = 0
        try:
            packets = ctx.encode(frame) + ctx.encode(None)
        except av.error.FFmpegError as exc:
            raise CodecError(f"libx265 failed: {exc}") from None
        return b"".join(bytes(p) for p in packets)

    def versions(self) -> dict:
        return {**libav_versions(), "x265": x265_version()}

    def describe(self) -> dict:
        return {**super().describe(), "pix_fmt": self.pix_fmt, "colour": "BT.709 limited range",
                "x265_params": FIXED_PARAMS, "fractional_qp": "+1 on a fraction of 32x32 groups, CRF "
                + ":".join(MIXED_QP_PARAMS)}


@functools.cache
def x265_version() -> str:
    """The x265 build inside PyAV's wheel, read from the SEI it writes when asked (no API for it)."""
    import av
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
    description = "HEVC intra (x265 via PyAV), 4:2:0 8-bit BT.709, I-slice QP (fractional: mixed-QP groups)"


@register_codec
class HEVC444(X265Intra):
    name = "hevc-444"
    pix_fmt = "yuv444p"
    description = "HEVC intra (x265 via PyAV), 4:4:4 8-bit BT.709, I-slice QP (fractional: mixed-QP groups)"


@register_codec
class HEVCROI(X265Intra):
    name = "hevc-roi"
    pix_fmt = "yuv420p"
    supports_roi = True
    description = ("HEVC intra (x265 via PyAV), 4:2:0, QP; ROI map -> per-16x16-block QP offsets "
                   "(roi_qp inside, background_qp outside)")

    def __init__(self, preset: str = "medium", roi_qp: int = -6, background_qp: int = 6, **options):
        super().__init__(preset=preset, roi_qp=roi_qp, background_qp=background_qp, **options)
        self.roi_qp, self.background_qp = int(roi_qp), int(background_qp)

    def roi_offsets(self, roi: np.ndarray | None, h: int, w: int) -> np.ndarray:
        if roi is None:
            return super().roi_offsets(roi, h, w)
        return roi_block_offsets(roi, self.roi_qp, self.background_qp)


def block_grid(h: int, w: int, block: int = ROI_BLOCK) -> tuple[int, int]:
    return -(-h // block), -(-w // block)


def fractional_qp_offsets(h: int, w: int, fraction: float) -> np.ndarray:
    """+1 on round(fraction * groups) of the 32x32 quantisation groups, on the 16x16 ROI grid.

    Group rows are taken in bit-reversed (van der Corput) order, the last one partly, from
    the left: the +1 set grows by inclusion with the fraction and spreads over the picture.
    """
    gy, gx = block_grid(h, w, QUANT_GROUP)
    count = round(min(max(fraction, 0.0), 1.0) * gy * gx)
    bits = max(gy - 1, 1).bit_length()
    rows = sorted(range(gy), key=lambda r: int(f"{r:0{bits}b}"[::-1], 2))
    groups = np.zeros((gy, gx), int)
    for i, row in enumerate(rows):
        groups[row, :min(max(count - i * gx, 0), gx)] = 1
    step = QUANT_GROUP // ROI_BLOCK
    by, bx = block_grid(h, w)
    return np.repeat(np.repeat(groups, step, axis=0), step, axis=1)[:by, :bx]


def roi_block_offsets(roi: np.ndarray, roi_qp: int, background_qp: int) -> np.ndarray:
    """Per 16x16 block: background_qp at importance 0, roi_qp at 1, interpolated by the block's mean."""
    roi = np.asarray(roi, dtype=np.float32)
    h, w = roi.shape
    by, bx = block_grid(h, w)
    padded = np.pad(roi, ((0, by * ROI_BLOCK - h), (0, bx * ROI_BLOCK - w)), mode="edge")
    importance = padded.reshape(by, ROI_BLOCK, bx, ROI_BLOCK).mean(axis=(1, 3))
    return np.rint(background_qp + (roi_qp - background_qp) * importance).astype(int)


def offset_rectangles(offsets: np.ndarray, h: int, w: int,
                      block: int = ROI_BLOCK) -> list[tuple[int, int, int, int, int]]:
    """Block grid of QP offsets -> disjoint pixel rectangles (x, y, w, h, offset) covering every
    block whose offset is not 0. Equal-offset runs along a block row are merged, then identical
    runs on consecutive rows, so a box mask or a dithered row gives few rectangles."""
    by, bx = offsets.shape
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
    import av
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
    out.colorspace, out.color_range = colour()[:2]
    return out
