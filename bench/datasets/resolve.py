"""Turning `--dataset NAME|PATH` into a list of images, with the checks that make results trustworthy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BenchError, unknown_name
from ..paths import data_root
from .embedded import materialize
from .images import ImageItem, scan_folder
from .manifest import Manifest, load_manifests

DEFAULT_DATASET = "skimage-photos"


@dataclass
class Dataset:
    name: str
    root: Path
    images: list[ImageItem]
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    manifest: Manifest | None = None
    hash_status: str = ""       # how its images are vouched for, e.g. "unverified (first download)"


def identify(items: list[ImageItem], manifests: dict[str, Manifest]) -> Manifest | None:
    """The manifest whose pixel hashes are exactly this set of images (e.g. a local Kodak copy)."""
    hashes = {i.pixel_hash for i in items}
    for m in manifests.values():
        if m.pixel_hashes and set(m.pixel_hashes.values()) == hashes:
            return m
    return None


def _check_against_manifest(items: list[ImageItem], manifest: Manifest) -> tuple[list[ImageItem], list]:
    if not manifest.pixel_hashes:
        return items, []
    by_file = {Path(f).stem: h for f, h in manifest.pixel_hashes.items()}
    good, bad = [], []
    for item in items:
        want = by_file.get(item.name)
        if want is None:
            bad.append((item.path, f"not an image of dataset '{manifest.name}' (no such file in its manifest)"))
        elif want != item.pixel_hash:
            bad.append((item.path, f"pixels differ from the '{manifest.name}' manifest (pixel sha256 "
                                   f"{item.pixel_hash[:12]}..., expected {want[:12]}...); re-download it"))
        else:
            good.append(item)
    return good, bad


def _check_recorded(items: list[ImageItem], manifest: Manifest, root: Path) -> tuple[list, list, str]:
    """Check images against the PIXEL_SHA256 written at first download. The pixel hashes come
    from the path+size+mtime cache, so a repeat run costs a dict lookup per image, not a decode.
    A folder filled by hand (no record) is recorded now, after checking its image count."""
    from .download import PIXEL_RECORD, read_pixel_record, write_pixel_record
    fix = f"delete it and run `bench datasets download {manifest.name}` to re-download it"
    record = read_pixel_record(root)
    if record is None:
        names = {Path(i.path).name for i in items}
        want = set(manifest.files) if manifest.files else None
        if (want is not None and names != want) or (want is None and manifest.image_count
                                                     and len(names) != manifest.image_count):
            expected = len(want) if want is not None else manifest.image_count
            raise BenchError(f"dataset '{manifest.name}' in {root} holds {len(names)} images, its manifest "
                             f"expects {expected} ({manifest.path.name if manifest.path else 'manifest'}); "
                             f"delete {root} and run `bench datasets download {manifest.name}`")
        status = "unverified (recorded at first use; not downloaded by bench)"
        try:
            write_pixel_record(root, {Path(i.path).name: i.pixel_hash for i in items}, status,
                               "recorded at first use")
        except OSError:
            return items, [], "unverified (no record: data folder not writable)"
        return items, [], status
    recorded, status = record
    good, extra, changed = [], [], []
    for item in items:
        want = recorded.get(Path(item.path).name)
        if want is None:
            extra.append((item.path, f"not in {PIXEL_RECORD} recorded at first download of '{manifest.name}'"))
        elif want != item.pixel_hash:
            changed.append(item)
        else:
            good.append(item)
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise BenchError(f"dataset '{manifest.name}': {changed[0].path} changed since its first download "
                         f"(pixel sha256 {changed[0].pixel_hash[:12]}..., recorded {recorded[Path(changed[0].path).name][:12]}... "
                         f"in {root / PIXEL_RECORD}){more}; {fix}")
    missing = sorted(set(recorded) - {Path(i.path).name for i in items})
    if missing:
        raise BenchError(f"dataset '{manifest.name}': {len(missing)} image(s) recorded at first download are "
                         f"missing or unreadable in {root}, e.g. {missing[0]}; run `bench datasets download "
                         f"{manifest.name}` to restore them")
    return good, extra, status


def resolve_dataset(spec: str | None) -> Dataset:
    manifests = load_manifests()
    spec = spec or DEFAULT_DATASET
    path = Path(spec).expanduser()
    if spec in manifests and not (path.is_dir() and "/" in spec):
        manifest = manifests[spec]
        if manifest.kind == "embedded":
            root = materialize(manifest)
        else:
            root = data_root() / manifest.name
            if not root.is_dir() or not any(root.iterdir()):
                raise BenchError(f"dataset '{spec}' is not in {root}; run `bench datasets download {spec}` "
                                 f"or set BENCH_DATA to the folder that holds '{spec}/'")
        items, skipped = scan_folder(root)
        items, bad = _check_against_manifest(items, manifest)
        skipped += bad
        status = "verified (pixel sha256 in its manifest)" if manifest.pixel_hashes else ""
        if not manifest.pixel_hashes and manifest.kind != "embedded":
            items, bad, status = _check_recorded(items, manifest, root)
            skipped += bad
        if manifest.kind == "embedded" and bad:
            raise BenchError(f"embedded dataset '{spec}' changed: {bad[0][1]}")
        if not items:
            raise BenchError(f"dataset '{spec}' in {root} has no usable images" +
                             (f" ({len(skipped)} skipped: {skipped[0][1]})" if skipped else ""))
        return Dataset(manifest.name, root, items, skipped, manifest, status)
    if path.is_dir():
        items, skipped = scan_folder(path)
        if not items:
            raise BenchError(f"folder {path} holds no readable images (.png, .jpg, ...)" +
                             (f"; {len(skipped)} unreadable, e.g. {skipped[0][1]}" if skipped else ""))
        manifest = identify(items, manifests)
        return Dataset(manifest.name if manifest else path.resolve().name, path, items, skipped, manifest)
    raise unknown_name("dataset", spec, manifests, "Give a known name or a folder of images.")
