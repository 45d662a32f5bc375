"""`bench datasets download NAME`: resumable, checksum-verified downloads into the data root.

Resume: bytes go to `<file>.part` and a re-run asks the server for the rest (HTTP Range).
Verification: per-image pixel sha256 where the manifest has them (Kodak); archive sha256
where published, otherwise recorded on first download (SOURCE_SHA256) and checked after.
Archive datasets also get a per-image record (PIXEL_SHA256) written at first download and
checked on every later use (`bench run --dataset NAME`, see resolve.py).
"""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import BenchError
from ..image import IMAGE_SUFFIXES, load_rgb, pixel_sha256
from .images import PixelHashCache
from .manifest import Manifest

CHUNK = 1 << 16


def fetch(url: str, target: Path, progress: Callable[[int, int | None], None] | None = None,
          timeout: float = 60.0) -> Path:
    """Download url to target, resuming from target.part; returns target."""
    import requests
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        resp = requests.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise BenchError(f"cannot download {url}: {exc.__class__.__name__}; check the network or fetch the "
                         f"file by hand into {target}") from None
    with resp:
        if resp.status_code == 416:          # already complete
            os.replace(part, target)
            return target
        if resp.status_code not in (200, 206):
            raise BenchError(f"cannot download {url}: HTTP {resp.status_code}")
        if resp.status_code == 200:          # server ignored Range: start over
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        if progress:
            progress(have, total)
        with open(part, "ab" if have else "wb") as fh:
            for chunk in resp.iter_content(CHUNK):
                fh.write(chunk)
                if progress:
                    progress(len(chunk), total)
    os.replace(part, target)
    return target


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_pixels(root: Path, manifest: Manifest) -> list[str]:
    bad = []
    for file, want in manifest.pixel_hashes.items():
        path = root / file
        if not path.exists():
            bad.append(f"{file}: missing")
        elif pixel_sha256(load_rgb(path)) != want:
            bad.append(f"{file}: pixel sha256 mismatch")
    return bad


SOURCE_RECORD = "SOURCE_SHA256"    # "<sha256>  <archive name>" per archive, when none is published
PIXEL_RECORD = "PIXEL_SHA256"      # "<pixel sha256>  <file>" per image, plus "# status: ..."
UNVERIFIED = "unverified (first download)"


def _is_image_member(name: str) -> bool:
    """Image files of an archive; macOS zips add __MACOSX/ and ._name resource forks that are not."""
    base = Path(name).name
    return (Path(name).suffix.lower() in IMAGE_SUFFIXES and not base.startswith(".")
            and "__MACOSX/" not in name)


def _extract(archive: Path, root: Path, prefix: str) -> int:
    count = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or not name.startswith(prefix) or not _is_image_member(name):
                continue
            rel = Path(name[len(prefix):]).name
            target = root / rel
            if not target.exists():
                with zf.open(info) as src, open(target.with_name(rel + ".part"), "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                os.replace(target.with_name(rel + ".part"), target)
            count += 1
    return count


def image_files(root: Path) -> list[Path]:
    """The dataset's images as `bench run` sees them: top-level, image suffix, not hidden."""
    return sorted(p for p in root.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_pairs(path: Path) -> dict[str, str]:
    """`<hash>  <name>` lines (sha256sum format) -> {name: hash}; '#' lines are comments."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and not line.startswith("#"):
            out[parts[1].strip()] = parts[0]
    return out


def write_pixel_record(root: Path, hashes: dict[str, str], status: str, how: str) -> Path:
    """Write PIXEL_SHA256 (sha256sum layout, so it reads like the files people know)."""
    lines = [(f"# pixel sha256 (decoded 8-bit RGB) of each image, {how} on "
              f"{time.strftime('%Y-%m-%d')}; `bench run --dataset` checks every image against it."),
             f"# status: {status}"]
    lines += [f"{h}  {f}" for f, h in sorted(hashes.items())]
    path = root / PIXEL_RECORD
    _atomic_text(path, "\n".join(lines) + "\n")
    return path


def read_pixel_record(root: Path) -> tuple[dict[str, str], str] | None:
    """({file: pixel sha256}, status) from PIXEL_SHA256, or None when there is none."""
    path = root / PIXEL_RECORD
    if not path.is_file():
        return None
    status = next((line.split(":", 1)[1].strip() for line in path.read_text().splitlines()
                   if line.startswith("# status:")), UNVERIFIED)
    return _read_pairs(path), status


def pixel_hashes(files: list[Path]) -> tuple[dict[str, str], list[str]]:
    """Pixel sha256 per file through the shared cache, so the first `bench run` decodes nothing again."""
    cache, out, bad = PixelHashCache(), {}, []
    for path in files:
        try:
            out[path.name] = cache.lookup(path).pixel_hash
        except BenchError as exc:
            bad.append(f"{path.name}: unreadable ({exc})")
    cache.save()
    return out, bad


def _fetch_archive(arc: dict, root: Path, make_progress, say) -> tuple[Path | None, bool, list[str]]:
    """Fetch one archive and check its sha256; returns (path or None, published hash matched, problems)."""
    archive = root / ".download" / Path(arc["url"]).name
    fetch(arc["url"], archive, make_progress(archive.name) if make_progress else None)
    digest = sha256_file(archive)
    record = root / SOURCE_RECORD
    recorded = _read_pairs(record) if record.exists() else {}
    published = arc.get("sha256", "")
    want = published or recorded.get(archive.name, "")
    if want and digest != want:
        archive.unlink()
        origin = (f"the one published by {arc.get('sha256_source', 'the manifest')}" if published
                  else f"the one recorded at first download in {record}")
        problem = (f"{archive.name}: sha256 {digest} != expected {want} ({origin}); deleted, run "
                   "the download again (if it fails again the server's file changed: report it)")
        return None, False, [problem]
    if published:
        say(f"{archive.name}: sha256 matches {arc.get('sha256_source', 'the manifest')}")
    elif want:
        say(f"{archive.name}: sha256 matches the one recorded at first download ({record})")
    else:
        recorded[archive.name] = digest
        _atomic_text(record, "".join(f"{h}  {n}\n" for n, h in recorded.items()))
        say(f"{archive.name}: {UNVERIFIED}: no published sha256; recorded {digest} in {record}")
    return archive, bool(published), []


def _download_archives(manifest: Manifest, root: Path, make_progress, say) -> list[str]:
    problems, all_published = [], True
    for arc in manifest.archives:
        archive, published, bad = _fetch_archive(arc, root, make_progress, say)
        problems += bad
        all_published &= published
        if archive is not None:
            _extract(archive, root, arc.get("member_prefix", ""))
    if problems:
        return problems
    present = image_files(root)
    if manifest.files:
        missing = sorted(set(manifest.files) - {p.name for p in present})
        problems += [f"{f}: missing from the archive" for f in missing[:10]]
    elif manifest.image_count and len(present) != manifest.image_count:
        problems.append(f"archive holds {len(present)} images, manifest expects {manifest.image_count}")
    problems += _verify_pixels(root, manifest)
    if problems or manifest.pixel_hashes:       # published per-image hashes are the record already
        return problems
    hashes, bad = pixel_hashes(present)
    if bad:
        return bad
    old = read_pixel_record(root)
    if old is not None:                         # a re-download: the images must be the ones first recorded
        changed = sorted(f for f, h in old[0].items() if hashes.get(f) != h)
        if not changed:
            say(f"{manifest.name}: {len(hashes)} images match {root / PIXEL_RECORD} ({old[1]})")
        return [f"{f}: pixels differ from {root / PIXEL_RECORD}; delete {root} and download again"
                for f in changed[:10]]
    status = (f"verified (archive sha256 published by {_sources(manifest)})" if all_published
              else UNVERIFIED)
    path = write_pixel_record(root, hashes, status, "recorded at first download")
    say(f"{manifest.name}: {len(hashes)} images, {status}; per-image pixel sha256 recorded in {path} "
        "and checked on every later use")
    return []


def _sources(manifest: Manifest) -> str:
    return ", ".join(dict.fromkeys(a.get("sha256_source", "the manifest") for a in manifest.archives))


def download_dataset(manifest: Manifest, root: Path, make_progress=None,
                     notice: Callable[[str], None] | None = None) -> list[str]:
    """Download one dataset into root; returns a list of problems (empty = done). `notice` gets
    the lines a user should read: which hashes matched, and whether the set is unverified."""
    root.mkdir(parents=True, exist_ok=True)
    say = notice or (lambda line: None)
    src = manifest.source
    if manifest.kind == "embedded":
        return []
    if manifest.kind == "files":
        for file in manifest.files:
            fetch(src["base_url"] + file, root / file, make_progress(file) if make_progress else None)
        bad = _verify_pixels(root, manifest)
        for problem in bad:   # a corrupt download must not be mistaken for the dataset next time
            (root / problem.split(":")[0]).unlink(missing_ok=True)
        if not bad:
            say(f"{manifest.name}: {len(manifest.files)} images, verified (pixel sha256 in {manifest.path})")
        return bad
    if manifest.kind == "archive":
        return _download_archives(manifest, root, make_progress, say)
    raise BenchError(f"dataset manifest {manifest.path}: unknown source kind '{manifest.kind}'")
