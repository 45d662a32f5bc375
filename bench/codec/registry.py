"""Codec adapters by name: the project's codecs/ folder, user folders, and entry points.

Names are read from the adapter files without importing them (bench.plugins), so
`bench list codecs` and checking `--codecs` names never pay for an adapter's libraries;
a codec's module is imported when the codec is built.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BenchError
from ..paths import CODECS_DIR
from ..plugins import Registry
from .api import Codec

ENTRY_POINT_GROUP = "bench.codecs"
REQUIRED = ("name", "rate_param", "default_rates", "rate_range")


def _folders() -> list[Path]:
    env = os.environ.get("BENCH_CODEC_PATH", "")
    return [CODECS_DIR] + [Path(p) for p in env.split(os.pathsep) if p]


CODECS = Registry("codec", "register_codec", "Run `bench list codecs`; add one with --codec-path.",
                  folders=_folders, builtin_folder=CODECS_DIR, entry_points=ENTRY_POINT_GROUP)


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Class decorator: add an adapter to the registry under `cls.name`."""
    missing = [a for a in REQUIRED if not hasattr(cls, a)]
    if missing:
        raise TypeError(f"codec class {cls.__qualname__} lacks {', '.join(missing)}")
    return CODECS.bind(cls.name, cls)


LISTED = ("rate_param", "rate_range", "default_rates", "supports_roi", "bpp_source", "description")


def codec_listing(name: str) -> tuple[dict, str | None]:
    """What `bench list codecs` shows of a codec, and why it is unavailable (None: available).

    Read from the adapter's source when it states these as literals and checks nothing in
    code; otherwise the adapter is imported (its module must import its libraries lazily)."""
    entry = CODECS.entry(name)
    attrs = CODECS.static(name)
    checks = entry.cls is None or entry.cls.defines("unavailable", "Codec")
    if attrs is not None and all(k in attrs for k in LISTED) and not checks:
        return {k: attrs[k] for k in LISTED}, None
    cls = CODECS.load(name)
    return {k: getattr(cls, k) for k in LISTED}, cls.unavailable()


def use_codec_paths(paths: list[str] | None) -> None:
    """Add `--codec-path` folders (each may hold several, os.pathsep-separated)."""
    for entry in paths or []:
        CODECS.add_folders(p for p in str(entry).split(os.pathsep) if p)


def get_codec_class(name: str, extra_paths: list[str] | None = None) -> type[Codec]:
    use_codec_paths(extra_paths)
    return CODECS.load(name)


def parse_codec_spec(spec: str) -> tuple[str, dict]:
    """'jpeg' or 'jpeg:optimize=1,progressive=0' -> (name, options)."""
    name, _, opts = spec.partition(":")
    options: dict = {}
    for item in filter(None, opts.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise BenchError(f"codec option '{item}' in '{spec}' must be key=value")
        options[key.strip()] = _coerce(value.strip())
    return name.strip(), options


def _coerce(value: str):
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def make_codec(spec: str, extra_paths: list[str] | None = None, check_available: bool = True) -> Codec:
    name, options = parse_codec_spec(spec)
    cls = get_codec_class(name, extra_paths)
    try:
        codec = cls(**options)
    except TypeError as exc:
        raise BenchError(f"codec '{name}' does not take options {options}: {exc}") from None
    reason = codec.unavailable_here() if check_available else None
    if reason:
        raise BenchError(f"codec '{name}' is not available here: {reason}")
    return codec
