"""The bitstream container of network codecs: everything the decoder needs besides the
codec's fixed weights, in as few bytes as the field allows (at 0.003 bpp a Kodak image is
~150 bytes, so the header is byte-lean: variable-length integers throughout).

Layout (all integers unsigned LEB128 varints unless said otherwise):

    magic            2 bytes  b"BN"
    format version   1 byte   (FORMAT_VERSION)
    flags            1 byte   bit 0: a seed follows; bit 1: an estimated bit count follows
    codec id         1 byte length + ASCII
    rate point       number (see below)
    height, width    varints
    seed             varint                      (flag bit 0)
    estimated bits   number                      (flag bit 1; likelihood-based rows)
    fields           count, then zigzag varints  (latent shapes, side integers of the codec)
    streams          count, then per stream: length, bytes (entropy-coded strings, maps, ...)

A number is 1 tag byte (0: integer, zigzag varint follows; 1: float32; 2: float64) and its
payload, so an integer quality costs 2 bytes and a fractional knob 5 (9 when float32
cannot hold it exactly).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import CodecError

MAGIC = b"BN"
FORMAT_VERSION = 1
_SEED, _ESTIMATE = 1, 2


@dataclass(frozen=True)
class Container:
    codec_id: str
    rate: float
    height: int
    width: int
    streams: tuple[bytes, ...] = ()
    fields: tuple[int, ...] = ()
    seed: int | None = None
    estimated_bits: float | None = None

    def header_size(self) -> int:
        """Bytes of everything but the streams' payloads."""
        return len(pack(self)) - sum(len(s) for s in self.streams)


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError(f"varint of a negative number {n}")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return 2 * n if n >= 0 else -2 * n - 1


def _number(x: float) -> bytes:
    if float(x).is_integer() and abs(x) < 2 ** 62:
        return b"\x00" + _varint(_zigzag(int(x)))
    if struct.unpack("<f", struct.pack("<f", x))[0] == x:
        return b"\x01" + struct.pack("<f", x)
    return b"\x02" + struct.pack("<d", x)


def pack(c: Container) -> bytes:
    ident = c.codec_id.encode("ascii")
    if not 0 < len(ident) < 256:
        raise ValueError(f"codec id {c.codec_id!r} must be 1..255 ASCII characters")
    flags = (_SEED if c.seed is not None else 0) | (_ESTIMATE if c.estimated_bits is not None else 0)
    out = bytearray(MAGIC + bytes([FORMAT_VERSION, flags, len(ident)]) + ident)
    out += _number(c.rate) + _varint(c.height) + _varint(c.width)
    if c.seed is not None:
        out += _varint(c.seed)
    if c.estimated_bits is not None:
        out += _number(float(c.estimated_bits))
    out += _varint(len(c.fields)) + b"".join(_varint(_zigzag(int(f))) for f in c.fields)
    out += _varint(len(c.streams))
    for s in c.streams:
        out += _varint(len(s)) + bytes(s)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = memoryview(data), 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CodecError(f"bitstream truncated: needs {self.pos + n} bytes, has {len(self.data)}")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def varint(self) -> int:
        n = shift = 0
        while True:
            byte = self.take(1)[0]
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return n
            if shift > 70:
                raise CodecError("bitstream corrupt: a varint runs past 10 bytes")

    def signed(self) -> int:
        z = self.varint()
        return z // 2 if z % 2 == 0 else -(z + 1) // 2

    def number(self) -> float:
        tag = self.take(1)[0]
        if tag == 0:
            return self.signed()
        if tag == 1:
            return struct.unpack("<f", self.take(4))[0]
        if tag == 2:
            return struct.unpack("<d", self.take(8))[0]
        raise CodecError(f"bitstream corrupt: unknown number tag {tag}")


def unpack(data: bytes, codec_id: str | None = None) -> Container:
    """The container in `data`; a wrong magic, version or codec id, or a truncated stream, is a
    CodecError naming the problem."""
    r = _Reader(bytes(data))
    if r.take(2) != MAGIC:
        raise CodecError("not a bench network-codec bitstream (bad magic)")
    version, flags = r.take(1)[0], r.take(1)[0]
    if version != FORMAT_VERSION:
        raise CodecError(f"bitstream format version {version}; this bench reads version {FORMAT_VERSION}")
    ident = r.take(r.take(1)[0]).decode("ascii", errors="replace")
    if codec_id is not None and ident != codec_id:
        raise CodecError(f"bitstream of codec '{ident}', not '{codec_id}'")
    rate, height, width = r.number(), r.varint(), r.varint()
    seed = r.varint() if flags & _SEED else None
    estimated = r.number() if flags & _ESTIMATE else None
    fields = tuple(r.signed() for _ in range(r.varint()))
    streams = tuple(r.take(r.varint()) for _ in range(r.varint()))
    if r.pos != len(r.data):
        raise CodecError(f"bitstream has {len(r.data) - r.pos} bytes after its last stream")
    return Container(ident, rate, height, width, streams, fields, seed, estimated)
