"""Reading a plugin module's registrations without importing it.

A registry must list and validate names without paying for a plugin's libraries (a
diffusion codec's diffusers import, a metric's torch). So each module's source is parsed
(`ast`) and three shapes of registration are recognised, for a registration function
named e.g. `register_codec` or `command`:

    @register_codec                       # a class: its literal class attributes are its
    class JPEG(PillowCodec): name = "jpeg"   # metadata, bases followed through the package
    @command("results", help="...")       # a function: the call's literal arguments
    list_app = command_group("list", help="...")   # an object: the same

Only literal values are read (numbers, strings, tuples, dicts, float("inf"), names bound
to literals at module level); an attribute set any other way is recorded as unknown, and
the registry then imports the module to learn it. Bases are followed through relative
imports and `bench.*` imports (located, never imported), so inherited defaults such as
Codec.rate_is_integer are part of the metadata.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


class NotLiteral(Exception):
    pass


@dataclass(frozen=True)
class ClassInfo:
    """A class as written in a file: literal attributes, names set otherwise, methods, bases."""
    name: str
    attrs: dict
    unknown: frozenset[str]
    methods: frozenset[str]
    bases: tuple["ClassInfo | None", ...]     # None: a base the scan could not locate

    def mro(self) -> list["ClassInfo | None"]:
        """Depth-first, left to right (exact for the single inheritance plugins use)."""
        out: list[ClassInfo | None] = [self]
        for b in self.bases:
            out += b.mro() if b is not None else [None]
        return out

    def merged(self) -> tuple[dict, frozenset[str], bool]:
        """(attributes as the class sees them, names of unknown value, all bases located)."""
        attrs: dict = {}
        unknown: set[str] = set()
        complete = True
        for c in reversed(self.mro()):
            if c is None:
                complete = False
                continue
            for k in c.unknown:
                attrs.pop(k, None)
            unknown -= set(c.attrs)
            attrs.update(c.attrs)
            unknown |= c.unknown
        return attrs, frozenset(unknown), complete

    def defines(self, method: str, root: str) -> bool:
        """Whether any class in the chain below `root` (the API base) defines `method`;
        True when part of the chain could not be read."""
        for c in self.mro():
            if c is None:
                return True
            if c.name == root:
                return False
            if method in c.methods:
                return True
        return True


@dataclass(frozen=True)
class Declared:
    """One registration found in a module."""
    symbol: str              # the class, function or variable name in the module
    attrs: dict              # literal metadata (class attributes or call arguments)
    unknown: frozenset[str]  # attributes whose value is not a literal
    complete: bool           # every base class was located
    cls: ClassInfo | None = None
    via: str = ""            # the registration function's name


@dataclass
class ModuleScan:
    path: Path
    declared: list[Declared] = field(default_factory=list)
    error: str | None = None   # the file could not be parsed


def _literal(node: ast.AST, consts: dict):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_literal(e, consts) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items if isinstance(node, ast.List) else set(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise NotLiteral
        return {_literal(k, consts): _literal(v, consts) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand, consts)
        if isinstance(v, (int, float)):
            return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left, consts), _literal(node.right, consts)
        if type(left) is type(right) and isinstance(left, (str, int, float, tuple)):
            return left + right
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float"
            and len(node.args) == 1 and not node.keywords):
        v = _literal(node.args[0], consts)
        if isinstance(v, str) and v.strip().lower() in ("inf", "-inf", "+inf", "nan"):
            return float(v)
    if isinstance(node, ast.Name) and node.id in consts:
        return consts[node.id]
    raise NotLiteral


def _assigned(stmt: ast.stmt) -> tuple[list[str], ast.AST | None]:
    if isinstance(stmt, ast.Assign):
        return [t.id for t in stmt.targets if isinstance(t, ast.Name)], stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [stmt.target.id], stmt.value      # a bare annotation (value None) declares nothing
    return [], None


def _named(node: ast.AST, register: tuple[str, ...]) -> bool:
    return (isinstance(node, ast.Name) and node.id in register) or (
        isinstance(node, ast.Attribute) and node.attr in register)


def _called(node: ast.AST, register: tuple[str, ...]) -> ast.Call | None:
    return node if isinstance(node, ast.Call) and _named(node.func, register) else None


def _via(node: ast.AST, register: tuple[str, ...]) -> str | None:
    """The registration function a decorator (bare or called) names, if any."""
    node = node.func if isinstance(node, ast.Call) else node
    if _named(node, register):
        return node.id if isinstance(node, ast.Name) else node.attr
    return None


def _call_attrs(call: ast.Call, consts: dict) -> tuple[dict, set[str]]:
    attrs, unknown = {}, set()
    for arg in call.args[:1]:
        try:
            attrs["name"] = _literal(arg, consts)
        except NotLiteral:
            unknown.add("name")
    for kw in call.keywords:
        if kw.arg is None:
            continue
        try:
            attrs[kw.arg] = _literal(kw.value, consts)
        except NotLiteral:
            unknown.add(kw.arg)
    return attrs, unknown


class _Module:
    """One parsed file: its literal module constants, classes and imported names."""

    def __init__(self, path: Path, tree: ast.Module):
        self.path, self.tree = path, tree
        self.consts: dict = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.imports: dict[str, tuple[str, int, str]] = {}    # local name -> (module, level, name)
        for stmt in tree.body:
            names, value = _assigned(stmt)
            if value is not None:
                for n in names:
                    try:
                        self.consts[n] = _literal(value, self.consts)
                    except NotLiteral:
                        self.consts.pop(n, None)
            elif isinstance(stmt, ast.ClassDef):
                self.classes[stmt.name] = stmt
            elif isinstance(stmt, ast.ImportFrom):
                for a in stmt.names:
                    self.imports[a.asname or a.name] = (stmt.module or "", stmt.level, a.name)


@lru_cache(maxsize=256)
def _parse(path: Path, mtime_ns: int) -> _Module | str:
    try:
        return _Module(path, ast.parse(path.read_bytes(), filename=str(path)))
    except (SyntaxError, ValueError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _module(path: Path) -> _Module | str:
    try:
        return _parse(path, path.stat().st_mtime_ns)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def _locate(mod: _Module, module: str, level: int) -> Path | None:
    """The file of an imported module: relative to this file, or a `bench.*` module (found, not imported)."""
    if level:
        base = mod.path.parent
        for _ in range(level - 1):
            base = base.parent
        target = base.joinpath(*module.split(".")) if module else base
    elif module == "bench" or module.startswith("bench."):
        try:
            spec = importlib.util.find_spec(module.split(".")[0])
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        target = Path(list(spec.submodule_search_locations)[0]).joinpath(*module.split(".")[1:])
    else:
        return None
    for cand in (target.with_suffix(".py"), target / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _class(mod: _Module, name: str, depth: int = 0) -> ClassInfo | None:
    if depth > 12:
        return None
    node = mod.classes.get(name)
    if node is None:
        imp = mod.imports.get(name)
        if imp is None:
            return None
        path = _locate(mod, imp[0], imp[1])
        other = _module(path) if path else None
        return _class(other, imp[2], depth + 1) if isinstance(other, _Module) else None
    attrs, unknown, methods = {}, set(), set()
    for stmt in node.body:
        names, value = _assigned(stmt)
        for n in names if value is not None else ():
            try:
                attrs[n] = _literal(value, mod.consts)
                unknown.discard(n)
            except NotLiteral:
                unknown.add(n)
                attrs.pop(n, None)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods.add(stmt.name)
    bases = tuple(_class(mod, b.id, depth + 1) if isinstance(b, ast.Name) else None
                  for b in node.bases if not (isinstance(b, ast.Name) and b.id == "object"))
    return ClassInfo(name, attrs, frozenset(unknown), frozenset(methods), bases)


def scan_module(path: Path, register: tuple[str, ...]) -> ModuleScan:
    """Registrations through any of the functions named in `register`, in the file at `path`."""
    mod = _module(path)
    if isinstance(mod, str):
        return ModuleScan(path, error=mod)
    out = ModuleScan(path)
    for stmt in mod.tree.body:
        if isinstance(stmt, ast.ClassDef):
            via = next(filter(None, (_via(d, register) for d in stmt.decorator_list)), None)
            if via:
                info = _class(mod, stmt.name)
                attrs, unknown, complete = info.merged()
                out.declared.append(Declared(stmt.name, attrs, unknown, complete, info, via))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in stmt.decorator_list:
                call = _called(d, register)
                if call is not None:
                    attrs, unknown = _call_attrs(call, mod.consts)
                    out.declared.append(Declared(stmt.name, attrs, frozenset(unknown), True, None, _via(d, register)))
        else:
            names, value = _assigned(stmt)
            call = _called(value, register) if value is not None else None
            if call is not None and names:
                attrs, unknown = _call_attrs(call, mod.consts)
                out.declared.append(Declared(names[0], attrs, frozenset(unknown), True, None, _via(call, register)))
    return out
