"""One registry for every kind of plugin: codecs, metrics, mask generators, CLI commands.

A registry maps a name to the object a module registers under it (a class, a command),
and knows the name before importing anything: sources are scanned statically
(bench.plugins.scan), so listing names, resolving aliases and did-you-mean cost a parse
of a few small files, and `load(name)` imports the one module that defines the name.

Sources, in order (a name defined twice is an error naming both places):
- a package of bench (`bench.metrics`): its public modules, imported by their names;
- folders of loose files (`codecs/`, `--codec-path DIR`): `*.py` and `*/__init__.py`,
  imported by path under `bench._plugins.<namespace>` (a folder named `codecs` would
  shadow the standard library's module if it were put on sys.path);
- an entry-point group (`bench.codecs`): name = "package.module[:Class]".

A public module with no registration the scan can see is imported when every name is
needed (listings) or a name is not found, in case it registers at run time.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BenchError, unknown_name
from .scan import ClassInfo, scan_module

PRIVATE_NAMESPACE = "bench._plugins"


@dataclass(frozen=True)
class Entry:
    name: str
    module: str                  # import name of the defining module
    symbol: str | None           # the registered object's name in that module
    origin: str                  # a file path, or "entry point <name> (<value>)"
    attrs: dict = field(default_factory=dict)   # literal metadata read without importing
    unknown: frozenset = frozenset()            # metadata names set by code (need an import)
    complete: bool = False                      # the static metadata covers every base class
    cls: ClassInfo | None = None
    via: str = ""                               # the registration function that declared it


@dataclass(frozen=True)
class _Source:
    folder: Path
    namespace: str        # module prefix of the folder's files
    by_path: bool         # not importable by name: load files by path


def _ensure_namespace(name: str, folder: Path) -> None:
    parts = name.split(".")
    for i in range(2, len(parts) + 1):
        pkg = ".".join(parts[:i])
        if pkg not in sys.modules:
            mod = types.ModuleType(pkg)
            mod.__path__ = []
            sys.modules[pkg] = mod
    sys.modules[name].__path__ = [str(folder)]   # adapters may import private siblings (codecs/_tools.py)


def _import_by_path(modname: str, file: Path) -> types.ModuleType:
    if modname in sys.modules:
        return sys.modules[modname]
    is_pkg = file.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        modname, file, submodule_search_locations=[str(file.parent)] if is_pkg else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return module


def folder_namespace(folder: Path, builtin: Path | None = None) -> str:
    if builtin is not None and folder.resolve() == builtin.resolve():
        return f"{PRIVATE_NAMESPACE}.{builtin.name}"
    return f"{PRIVATE_NAMESPACE}.user_" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]


class Registry:
    """Name -> lazily imported object, for one kind of plugin."""

    def __init__(self, kind: str, register: str | tuple[str, ...], fix: str, *,
                 package: str | None = None, entry_points: str | None = None,
                 folders: Callable[[], list[Path]] | None = None, builtin_folder: Path | None = None,
                 skip: Iterable[str] = ()):
        self.kind, self.fix = kind, fix
        self.register = (register,) if isinstance(register, str) else tuple(register)
        self.package, self.entry_point_group = package, entry_points
        self._folders, self._builtin_folder = folders, builtin_folder
        self._skip = {"__init__", "__main__", *skip}
        self._objects: dict[str, Any] = {}
        self._extra: list[Path] = []
        self._scanned: tuple | None = None     # (sources key, entries, aliases, opaque)
        self.load_errors: dict[str, str] = {}  # file or entry point -> why it did not load

    # --- sources ------------------------------------------------------------------
    def _check_folder(self, path: Path) -> Path:
        if not path.is_dir():
            raise BenchError(f"{self.kind} folder {path} does not exist; fix --{self.kind}-path / "
                             f"BENCH_{self.kind.upper()}_PATH")
        return path

    def add_folders(self, folders: Iterable[str | Path]) -> None:
        """Extra folders of loose plugin files (`--codec-path`); each must exist."""
        for f in folders:
            path = self._check_folder(Path(f))
            if path.resolve() not in {p.resolve() for p in self._extra}:
                self._extra.append(path)

    def _sources(self) -> list[_Source]:
        out = []
        if self.package:
            spec = importlib.util.find_spec(self.package)
            for loc in spec.submodule_search_locations or []:
                out.append(_Source(Path(loc), self.package, False))
        folders = (self._folders() if self._folders else []) + self._extra
        seen = set()
        for f in folders:
            if f.resolve() in seen:
                continue
            seen.add(f.resolve())
            out.append(_Source(self._check_folder(f), folder_namespace(f, self._builtin_folder), True))
        return out

    @staticmethod
    def _files(source: _Source) -> list[tuple[str, Path]]:
        files = sorted(source.folder.glob("*.py")) + sorted(
            p / "__init__.py" for p in source.folder.iterdir() if (p / "__init__.py").is_file())
        return [(f.parent.name if f.name == "__init__.py" and f.parent != source.folder else f.stem, f)
                for f in files]

    def _scan(self):
        sources = self._sources()
        key = tuple(sources)
        if self._scanned and self._scanned[0] == key:
            return self._scanned[1:]
        entries: dict[str, Entry] = {}
        aliases: dict[str, str] = {}
        opaque: list[tuple[str, Path, _Source]] = []

        def add(entry: Entry) -> None:
            prior = entries.get(entry.name)
            if prior is not None and (prior.module, prior.symbol) != (entry.module, entry.symbol):
                raise BenchError(f"{self.kind} name '{entry.name}' is defined twice ({prior.origin}: {prior.symbol} "
                                 f"and {entry.origin}: {entry.symbol}); rename one")
            entries[entry.name] = entry
            for alias in entry.attrs.get("aliases", ()) or ():
                aliases.setdefault(str(alias), entry.name)

        for source in sources:
            for stem, file in self._files(source):
                if stem.startswith("_") or stem in self._skip:
                    continue
                modname = f"{source.namespace}.{stem}"
                scan = scan_module(file, self.register)
                if scan.error:
                    self.load_errors[str(file)] = scan.error
                    continue
                named = [d for d in scan.declared if isinstance(d.attrs.get("name"), str)]
                if not named or len(named) < len(scan.declared):
                    opaque.append((modname, file, source))
                for d in named:
                    add(Entry(d.attrs["name"], modname, d.symbol, str(file), d.attrs, d.unknown, d.complete, d.cls, d.via))
        if self.entry_point_group:
            for ep in importlib.metadata.entry_points(group=self.entry_point_group):
                module, _, attr = ep.value.partition(":")
                if ep.name not in entries:
                    add(Entry(ep.name, module.strip(), attr.strip() or None, f"entry point {ep.name} ({ep.value})"))
        self._scanned = (key, entries, aliases, opaque)
        return entries, aliases, opaque

    # --- names --------------------------------------------------------------------
    def entries(self) -> dict[str, Entry]:
        return dict(self._scan()[0])

    def names(self) -> list[str]:
        """Every known name: declared in a source, or registered by a module imported so far."""
        return sorted(set(self._scan()[0]) | set(self._objects))

    def canonical(self, name: str) -> str | None:
        entries, aliases, _ = self._scan()
        if name in entries:
            return name
        if name in aliases:
            return aliases[name]
        if name in self._objects:
            return name
        return None

    def entry(self, name: str) -> Entry:
        """The entry for a name or alias; an unknown name is one clear error with a did-you-mean."""
        found = self.canonical(name)
        if found is None:
            self.import_undeclared()
            found = self.canonical(name)
        if found is None:
            entries, aliases, _ = self._scan()
            raise unknown_name(self.kind, name, set(entries) | set(aliases) | set(self._objects), self.fix)
        entries = self._scan()[0]
        if found in entries:
            return entries[found]
        obj = self._objects[found]
        return Entry(found, getattr(obj, "__module__", "?"), getattr(obj, "__qualname__", None), "run time")

    def static(self, name: str) -> dict | None:
        """Metadata of a name read without importing (attributes set by code are absent), or
        None when a base class could not be read."""
        e = self.entry(name)
        return e.attrs if e.complete else None

    # --- loading ------------------------------------------------------------------
    def bind(self, name: str, obj: Any) -> Any:
        """Called by a registration decorator when its module is imported."""
        prior = self._objects.get(name)
        if prior is not None and prior is not obj and getattr(prior, "__qualname__", None) != getattr(
                obj, "__qualname__", None):
            raise BenchError(f"{self.kind} name '{name}' is defined twice ({prior.__module__}.{prior.__qualname__} "
                             f"and {obj.__module__}.{obj.__qualname__}); rename one")
        self._objects[name] = obj
        return obj

    def _import(self, module: str, file: Path | None, by_path: bool, folder: Path | None) -> None:
        if by_path:
            _ensure_namespace(module.rsplit(".", 1)[0], folder)
            _import_by_path(module, file)
        else:
            importlib.import_module(module)

    def _source_of(self, entry: Entry) -> _Source | None:
        for s in self._sources():
            if entry.module.startswith(s.namespace + "."):
                return s
        return None

    def load(self, name: str) -> Any:
        """The registered object; imports its module on first use."""
        entry = self.entry(name)
        if entry.name in self._objects:
            return self._objects[entry.name]
        try:
            if entry.origin.startswith("entry point"):
                obj = importlib.import_module(entry.module)
                for part in (entry.symbol or "").split(".") if entry.symbol else []:
                    obj = getattr(obj, part)
                if entry.name not in self._objects and entry.symbol:
                    self.bind(entry.name, obj)
            else:
                source = self._source_of(entry)
                self._import(entry.module, Path(entry.origin), bool(source and source.by_path),
                             source.folder if source else None)
        except BenchError:
            raise
        except Exception as exc:   # a broken plugin: one clear line, the other plugins still work
            why = f"{type(exc).__name__}: {exc}"
            self.load_errors[entry.origin] = why
            raise BenchError(f"{self.kind} '{entry.name}' failed to load from {entry.origin}: {why}") from None
        if entry.name not in self._objects:
            raise BenchError(f"{self.kind} '{entry.name}': {entry.origin} was imported but registered no "
                             f"{self.kind} of that name")
        return self._objects[entry.name]

    def import_undeclared(self) -> None:
        """Import the modules that declare nothing the scan can see (they may register at run time)."""
        for modname, file, source in self._scan()[2]:
            if str(file) in self.load_errors or modname in sys.modules:
                continue
            try:
                self._import(modname, file, source.by_path, source.folder)
            except BenchError:
                raise
            except Exception as exc:
                self.load_errors[str(file)] = f"{type(exc).__name__}: {exc}"

    def load_all(self) -> dict[str, Any]:
        """Every loadable object by name (listings); failures go to `load_errors`."""
        out = {}
        for name in self.names():
            try:
                out[name] = self.load(name)
            except BenchError as exc:
                self.load_errors.setdefault(self.entry(name).origin, str(exc))
        self.import_undeclared()
        for name, obj in self._objects.items():
            out.setdefault(name, obj)
        return dict(sorted(out.items()))
