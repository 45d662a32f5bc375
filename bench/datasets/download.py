"""`bench datasets download NAME`: resumable, checksum-verified downloads into the data root.

Resume: bytes go to `<file>.part` and a re-run asks the server for the rest (HTTP Range).
Verification: per-image pixel sha256 where the manifest has them (Kodak); archive sha256
where published, otherwise recorded on first download (SOURCE_SHA256) and checked after.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import BenchError
from ..image import IMAGE_SUFFIXES, load_rgb, pixel_sha256
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


def _extract(archive: Path, root: Path, prefix: str) -> int:
    count = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or not name.startswith(prefix) or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
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


def download_dataset(manifest: Manifest, root: Path, make_progress=None) -> list[str]:
    """Download one dataset into root; returns a list of problems (empty = verified)."""
    root.mkdir(parents=True, exist_ok=True)
    src = manifest.source
    if manifest.kind == "embedded":
        return []
    if manifest.kind == "files":
        for file in manifest.files:
            fetch(src["base_url"] + file, root / file, make_progress(file) if make_progress else None)
        bad = _verify_pixels(root, manifest)
        for problem in bad:   # a corrupt download must not be mistaken for the dataset next time
            (root / problem.split(":")[0]).unlink(missing_ok=True)
        return bad
    if manifest.kind == "archive":
        archive = root / ".download" / Path(src["url"]).name
        fetch(src["url"], archive, make_progress(archive.name) if make_progress else None)
        digest = sha256_file(archive)
        record = root / "SOURCE_SHA256"
        want = src.get("sha256") or (record.read_text().split()[0] if record.exists() else "")
        if want and digest != want:
            archive.unlink()
            return [f"{archive.name}: sha256 {digest} != expected {want}; deleted, run the download again"]
        if not want:
            record.write_text(f"{digest}  {archive.name}\n")
        count = _extract(archive, root, src.get("member_prefix", ""))
        problems = []
        if manifest.files:
            missing = [f for f in manifest.files if not (root / f).exists()]
            problems += [f"{f}: missing from the archive" for f in missing[:10]]
        elif manifest.image_count and count != manifest.image_count:
            problems.append(f"archive holds {count} images, manifest expects {manifest.image_count}")
        problems += _verify_pixels(root, manifest)
        return problems
    raise BenchError(f"dataset manifest {manifest.path}: unknown source kind '{manifest.kind}'")
