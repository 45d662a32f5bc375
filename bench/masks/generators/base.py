"""The mask-generator API: a generator turns an image (or only its size) into an
importance map, HxW float32 in [0, 1] (0 = background, 1 = ROI, between = graded).

Each generator's parameters, defaults and which parameter is its target ROI fraction
are class-level data, so the CLI, the manifest and the tests need no per-method code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...errors import BenchError
from ...plugins import Registry

GENERATORS = Registry("mask method", "register_generator", "Run `bench masks list`.",
                      package="bench.masks.generators")


@dataclass(frozen=True)
class Param:
    default: Any
    help: str
    choices: tuple = ()


class MaskGenerator:
    name: ClassVar[str]
    family: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    # The parameter that sets the map's ROI fraction (see roi_fraction), or None when the
    # method has no requested fraction (random region maps, fixed halves).
    fraction_param: ClassVar[str | None] = None
    uses_pixels: ClassVar[bool] = False     # False: only the image's size matters

    def generate(self, image: np.ndarray, rng: np.random.Generator, **params: Any) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def unavailable(cls) -> str | None:
        """None when usable here, else what is missing and how to fix it."""
        return None

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    @classmethod
    def resolve_params(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults merged with `given`; strings (from the CLI) are cast to the default's type."""
        unknown = sorted(set(given) - set(cls.params))
        if unknown:
            known = ", ".join(f"{k} (default {p.default})" for k, p in cls.params.items()) or "none"
            raise BenchError(f"mask method '{cls.name}' has no parameter {', '.join(unknown)}; "
                             f"its parameters: {known}")
        out = {}
        for key, spec in cls.params.items():
            value = given.get(key, spec.default)
            out[key] = _cast(cls.name, key, value, spec)
        if cls.fraction_param is not None:
            f = out[cls.fraction_param]
            if not 0.0 < f < 1.0:
                raise BenchError(f"mask method '{cls.name}': {cls.fraction_param}={f:g} must be "
                                 "strictly between 0 and 1")
        return out


def _cast(method: str, key: str, value: Any, spec: Param) -> Any:
    kind = type(spec.default)
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            cast = value.lower() in ("true", "1", "yes")
        elif kind is int and isinstance(value, str):
            cast = int(value)
        else:
            cast = kind(value)
    except (TypeError, ValueError):
        raise BenchError(f"mask method '{method}': parameter {key}={value!r} is not a "
                         f"{kind.__name__}") from None
    if spec.choices and cast not in spec.choices:
        raise BenchError(f"mask method '{method}': {key} must be one of "
                         f"{', '.join(map(str, spec.choices))}, got {cast!r}")
    return cast


def register_generator(cls: type[MaskGenerator]) -> type[MaskGenerator]:
    if cls.fraction_param is not None and cls.fraction_param not in cls.params:
        raise TypeError(f"mask generator {cls.__qualname__}: fraction_param "
                        f"'{cls.fraction_param}' is not one of its params")
    return GENERATORS.bind(cls.name, cls)


def image_rng(seed: int, key: str) -> np.random.Generator:
    """A generator seeded by (seed, image stem): a mask does not depend on which other
    images are in the set or on their order."""
    key_int = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng([int(seed), key_int])


def roi_fraction(mask: np.ndarray) -> float:
    """ROI fraction of a map in [0, 1]: its mean, i.e. the importance-weighted share of the
    image. For a binary map this is exactly the share of ROI pixels."""
    return float(np.asarray(mask, dtype=np.float64).mean())


def binary_fraction(mask: np.ndarray) -> float:
    """Share of pixels with importance >= 0.5 (the outline drawn by overlays)."""
    return float((np.asarray(mask) >= 0.5).mean())


def top_fraction(score: np.ndarray, fraction: float) -> np.ndarray:
    """Binary map of the round(fraction * H * W) highest-scoring pixels.

    Ranking (not a value threshold) makes the ROI share exact even when scores tie;
    a stable sort breaks ties in raster order, so the result is deterministic.
    """
    flat = score.ravel()
    k = int(round(fraction * flat.size))
    order = np.argsort(-flat, kind="stable")
    out = np.zeros(flat.size, dtype=np.float32)
    out[order[:k]] = 1.0
    return out.reshape(score.shape)


def to_u8(mask: np.ndarray) -> np.ndarray:
    """The stored form: 8-bit, 0 = background, 255 = ROI."""
    return np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)
