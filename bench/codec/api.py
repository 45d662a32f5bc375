"""The codec API: what an adapter implements.

An adapter is a small class (see codecs/pillow_codecs.py):

    @register_codec
    class WebP(Codec):
        name = "webp"; rate_param = "quality"; default_rates = (10, 50, 90)
        rate_range = (0, 100)
        def encode(self, image, rate, roi=None): ...   # HxWx3 uint8 RGB -> bytes
        def decode(self, data): ...                    # bytes -> HxWx3 uint8 RGB

The harness does everything else (timing, files, rows, metrics, resume, verification).
Import optional libraries inside methods and report their absence from `unavailable()`,
so that one missing library never hides the other codecs and listing codecs stays cheap.

Network codecs add two hooks: `load(device)` builds the model once per process on the
run's device (`uses_device = True`: on cpu the process pool runs them, on cuda the
in-process device executor does), and `encode_batch`/`decode_batch` take several images
of one size at one rate point, which the device executor uses when a codec overrides them.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, ClassVar

import numpy as np

from ..errors import BenchError


def describe_hash(describe: dict) -> str:
    """The configuration hash in cache keys: of a codec's describe(), or of an imported codec's."""
    return hashlib.sha256(json.dumps(describe, sort_keys=True, default=str).encode()).hexdigest()[:16]

class Codec:
    name: ClassVar[str]
    rate_param: ClassVar[str]                    # what the knob means: "quality", "qp", ...
    default_rates: ClassVar[tuple]               # the sweep used when the user gives none
    rate_range: ClassVar[tuple[float, float]]    # inclusive bounds of the knob
    rate_is_integer: ClassVar[bool] = True
    rate_increases_bpp: ClassVar[bool] = True    # False for QP-like knobs (used by --target-bpp)
    supports_roi: ClassVar[bool] = False         # encode() uses the roi importance map
    bpp_source: ClassVar[str] = "measured"       # "estimated" for likelihood-only codecs
    uses_device: ClassVar[bool] = False          # runs a network on the run's --device (see load())
    extension: ClassVar[str] = "bin"             # file suffix of stored bitstreams
    description: ClassVar[str] = ""

    def __init__(self, **options: Any):
        self.options = dict(options)
        self.device = "cpu"

    def load(self, device: str) -> None:
        """Once per process, before the first image: build models on `device` (cpu, cuda:N)."""
        self.device = device

    # --- what an adapter implements -------------------------------------------------
    def encode(self, image: np.ndarray, rate: float, roi: np.ndarray | None = None) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def encode_batch(self, images: list[np.ndarray], rate: float,
                     rois: list[np.ndarray | None] | None = None) -> list[bytes]:
        """Same-size images at one rate point; one complete bitstream each."""
        rois = rois or [None] * len(images)
        return [self.encode(im, rate, roi=r) for im, r in zip(images, rois)]

    def decode_batch(self, data: list[bytes]) -> list[np.ndarray]:
        return [self.decode(d) for d in data]

    @classmethod
    def batches(cls) -> bool:
        """Whether the adapter overrides the batch calls (else images go one at a time)."""
        return cls.encode_batch is not Codec.encode_batch or cls.decode_batch is not Codec.decode_batch

    def versions(self) -> dict[str, str]:
        """Library/binary versions that can change the bitstream."""
        return {}

    def rate_bits(self, data: bytes) -> float:
        """The rate of a bitstream in bits: all its bytes (estimating codecs report their estimate)."""
        return 8.0 * len(data)

    def unavailable_at(self, rates: list[float]) -> str | None:
        """Why these rate points cannot run here (a missing checkpoint), checked before a run starts."""
        return None

    def warnings(self) -> list[str]:
        """One-line notes the run prints and records (a binary and its configuration disagree, ...)."""
        return []

    @classmethod
    def unavailable(cls) -> str | None:
        """None when usable here, else why not (e.g. "vtm: EncoderApp not found on PATH")."""
        return None

    def unavailable_here(self) -> str | None:
        """As unavailable(), with this instance's options (vtm:dir=... can point at the binaries)."""
        return type(self).unavailable()

    # --- provided -------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Everything that identifies this codec's output; stored with every result."""
        return {"name": self.name, "class": f"{type(self).__module__.rsplit('.', 1)[-1]}.{type(self).__qualname__}",
                "rate_param": self.rate_param, "options": self.options, "versions": self.versions(),
                "bpp_source": self.bpp_source}

    def config_hash(self) -> str:
        return describe_hash(self.describe())

    @classmethod
    def check_rate(cls, rate: float) -> float:
        lo, hi = cls.rate_range
        if not (isinstance(rate, (int, float)) and math.isfinite(rate)) or not lo <= rate <= hi:
            raise BenchError(f"rate {rate:g} is outside codec '{cls.name}' range of "
                             f"{cls.rate_param} [{lo:g}, {hi:g}]; pick --rates inside it")
        if cls.rate_is_integer and float(rate) != int(rate):
            raise BenchError(f"codec '{cls.name}' takes integer {cls.rate_param} values, got {rate:g}")
        return int(rate) if cls.rate_is_integer else float(rate)

