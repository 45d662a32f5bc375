"""Finds codec adapters: the project's codecs/ folder, user folders, and entry points.

codecs/ is not an importable package (the name would shadow the standard library's
`codecs`), so adapter files are loaded by path under the private namespace
`bench._plugins.*`; a user's folder (`--codec-path`, `BENCH_CODEC_PATH`) the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import types
from pathlib import Path

from .codec import CODECS, Codec
from .errors import BenchError, unknown_name
from .paths import CODECS_DIR

ENTRY_POINT_GROUP = "bench.codecs"
LOAD_ERRORS: dict[str, str] = {}     # plugin file -> why it failed to import
_loaded_dirs: set[Path] = set()
_entry_points_loaded = False


def codec_search_path(extra: list[str] | None = None) -> list[Path]:
    dirs = [CODECS_DIR]
    for entry in (extra or []):
        dirs += [Path(p) for p in str(entry).split(os.pathsep) if p]
    env = os.environ.get("BENCH_CODEC_PATH", "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    return dirs


def _namespace(directory: Path) -> str:
    if directory.resolve() == CODECS_DIR.resolve():
        return "bench._plugins.codecs"
    return "bench._plugins.user_" + hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:10]


def _ensure_package(name: str) -> None:
    parts = name.split(".")
    for i in range(2, len(parts) + 1):
        pkg = ".".join(parts[:i])
        if pkg not in sys.modules:
            mod = types.ModuleType(pkg)
            mod.__path__ = []
            sys.modules[pkg] = mod


def load_directory(directory: Path) -> None:
    directory = Path(directory)
    key = directory.resolve()
    if key in _loaded_dirs:
        return
    if not directory.is_dir():
        raise BenchError(f"codec folder {directory} does not exist; fix --codec-path / BENCH_CODEC_PATH")
    _loaded_dirs.add(key)
    ns = _namespace(directory)
    _ensure_package(ns)
    sys.modules[ns].__path__ = [str(directory)]   # adapters may import private siblings (codecs/_tools.py)
    entries = sorted(directory.glob("*.py")) + sorted(p / "__init__.py" for p in directory.iterdir()
                                                       if (p / "__init__.py").is_file())
    for file in entries:
        stem = file.parent.name if file.name == "__init__.py" else file.stem
        if stem.startswith("_"):
            continue
        modname = f"{ns}.{stem}"
        if modname in sys.modules:
            continue
        try:
            spec = importlib.util.spec_from_file_location(
                modname, file, submodule_search_locations=[str(file.parent)] if file.name == "__init__.py" else None)
            module = importlib.util.module_from_spec(spec)
            sys.modules[modname] = module
            spec.loader.exec_module(module)
        except BenchError:
            raise
        except Exception as exc:  # a broken plugin must not hide the others
            sys.modules.pop(modname, None)
            LOAD_ERRORS[str(file)] = f"{type(exc).__name__}: {exc}"


def load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if isinstance(obj, type) and issubclass(obj, Codec) and obj.name not in CODECS:
                CODECS[obj.name] = obj
        except Exception as exc:
            LOAD_ERRORS[f"entry point {ep.name}"] = f"{type(exc).__name__}: {exc}"


def discover(extra_paths: list[str] | None = None) -> dict[str, type[Codec]]:
    for directory in codec_search_path(extra_paths):
        load_directory(directory)
    load_entry_points()
    return CODECS


def get_codec_class(name: str, extra_paths: list[str] | None = None) -> type[Codec]:
    codecs = discover(extra_paths)
    if name not in codecs:
        raise unknown_name("codec", name, codecs, "Run `bench list codecs`; add one with --codec-path.")
    return codecs[name]


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
