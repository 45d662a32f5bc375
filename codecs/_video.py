"""RGB <-> YCbCr frames and raw annex-B streams through PyAV (FFmpeg's libswscale/libavcodec).

Every video-codec adapter converts the same way: BT.709 matrix, limited ("tv") range,
signalled in the stream's VUI so that any decoder converts back the same way. swscale
runs with accurate rounding and full chroma interpolation; its default fast path costs
up to 2 dB of PSNR at high rates. PyAV is imported on first use, so that listing codecs
(which imports the adapters) does not load FFmpeg.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from bench.errors import CodecError

if TYPE_CHECKING:
    import av
# the same conversion for the ffmpeg command line (-vf scale=...)
FFMPEG_SCALE = "out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp"
FFMPEG_TAGS = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]


@functools.cache
def colour() -> tuple:
    """(matrix, range, swscale flags): BT.709, limited range, accurate bicubic conversion."""
    from av.video.reformatter import ColorRange, Colorspace, Interpolation
    return (Colorspace.ITU709, ColorRange.MPEG, Interpolation.BICUBIC | Interpolation.ACCURATE_RND
            | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP)


def rgb_to_frame(image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    import av
    matrix, rng, flags = colour()
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
    return frame.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range=rng, interpolation=flags)


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Back to RGB with the matrix/range the stream signals (BT.709 tv when it signals none)."""
    from av.video.reformatter import ColorRange, Colorspace
    matrix, default_range, flags = colour()
    space = frame.colorspace if frame.colorspace in {c.value for c in Colorspace} else matrix
    rng = frame.color_range if frame.color_range in (ColorRange.MPEG, ColorRange.JPEG) else default_range
    return frame.to_ndarray(format="rgb24", src_colorspace=space, src_color_range=rng, interpolation=flags)


def decode_annexb(data: bytes, decoder: str) -> av.VideoFrame:
    """First picture of a raw annex-B stream ('hevc', 'vvc')."""
    import av
    ctx = av.CodecContext.create(decoder, "r")
    try:
        packets = ctx.parse(bytes(data)) + ctx.parse(None)
        frames = [f for p in packets for f in ctx.decode(p)] + list(ctx.decode(None))
    except av.error.FFmpegError as exc:
        raise CodecError(f"{decoder} decoder rejected the bitstream: {exc}") from None
    if not frames:
        raise CodecError(f"{decoder} bitstream of {len(data)} bytes holds no decodable picture")
    return frames[0]


def annexb_size(data: bytes, decoder: str) -> tuple[int, int]:
    """(width, height) after conformance cropping, read from the parameter sets by FFmpeg's parser."""
    import av
    ctx = av.CodecContext.create(decoder, "r")
    ctx.parse(bytes(data))
    ctx.parse(None)
    if not ctx.width or not ctx.height:
        raise CodecError(f"no picture size in the {decoder} parameter sets of this bitstream")
    return ctx.width, ctx.height


def libav_versions() -> dict[str, str]:
    import av
    return {"pyav": av.__version__,
            "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
            "libswscale": ".".join(map(str, av.library_versions["libswscale"]))}
