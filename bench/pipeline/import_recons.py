"""`bench import-recons`: reconstructions made elsewhere (released with a paper, or by a tool
this suite cannot run) stored as the rows of a codec, so every metric, BD table, plot and
the report treat them like the rows `bench run` writes.

Layout of the folder (one subfolder per rate point; its name is the point's label):

    DIR/<point>/<image stem>.png      the reconstruction (.png, .bmp, .ppm, .tif, .tiff)
    DIR/<point>/<image stem>.<ext>    its bitstream (any other suffix): bytes = the file's size

or, instead of bitstream files, a CSV of declared sizes (`--bytes`): columns image,rate,bytes
with rate = the <point> folder name. Rows get bpp_source "files" or "declared" accordingly.

Cache keys are built as for a run (codec, config hash, setting, image pixels), so importing
the same folder again rewrites nothing and computes only metrics not yet stored; a changed
reconstruction replaces its row and drops that row's old metric values.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from rich.console import Console

from ..codec.api import describe_hash
from ..datasets import ImageItem, resolve_dataset
from ..environment import environment
from ..errors import BenchError
from ..image import atomic_write, check_supported, load_rgb, pixel_sha256, png_bytes
from ..metrics import METRICS
from ..store import JobRow, Store
from .models import Models, make_metrics
from .options import DEFAULT_METRICS
from .plan import cache_key
from .worker import artifact_paths

RECON_SUFFIXES = (".png", ".bmp", ".ppm", ".tif", ".tiff")   # lossless: the file holds the decoded pixels
RATE_PARAM = "point"
BPP_FILES, BPP_DECLARED = "files", "declared"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")           # no ':' ',' '@': those parse as options/labels


@dataclass
class ImportOptions:
    folder: Path
    codec: str
    dataset: str | None = None
    out: Path = Path("results")
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    bytes_csv: Path | None = None
    device: str = "cpu"
    batch_size: int | None = None


@dataclass
class ImportReport:
    dataset: str = ""
    codec: str = ""
    config_hash: str = ""
    run_id: str = ""
    points: list[str] = field(default_factory=list)
    stored: int = 0                  # rows written (new or changed)
    unchanged: int = 0               # rows already stored with the same reconstruction and bytes
    missing: list[tuple[str, str, str]] = field(default_factory=list)   # (setting, image, why): error rows
    notes: list[str] = field(default_factory=list)                      # ignored files and the like
    missing_metrics: dict[str, str] = field(default_factory=dict)


@dataclass
class _Item:
    point: str
    image: ImageItem
    recon: Path
    bitstream: Path | None
    declared: int | None


def setting_of(point: str) -> str:
    return f"{RATE_PARAM}={point}"


def _number(label: str) -> float | None:
    try:
        x = float(label)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _point_key(label: str) -> str:
    """Folder names and CSV rate values match as numbers when both are ("1" == "1.0")."""
    x = _number(label.strip())
    return f"{x:g}" if x is not None else label.strip()


def _sort_key(label: str) -> tuple:
    x = _number(label)
    return (0, x, "") if x is not None else (1, 0.0, label)


def describe(codec: str, folder: Path, bpp_source: str) -> dict:
    """The codec configuration row: what tables, plots and the report show for an imported codec."""
    return {"name": codec, "class": "imported", "rate_param": RATE_PARAM, "options": {}, "versions": {},
            "bpp_source": bpp_source, "imported_from": folder.resolve().name}


def read_bytes_csv(path: Path) -> dict[tuple[str, str], int]:
    """(point key, image stem) -> declared bytes, from a CSV with columns image,rate,bytes."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BenchError(f"--bytes {path}: cannot read it ({exc.strerror}); pass a CSV with columns image,rate,bytes") from None
    reader = csv.DictReader(text.splitlines())
    cols = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    lacking = [c for c in ("image", "rate", "bytes") if c not in cols]
    if lacking:
        raise BenchError(f"--bytes {path}: no column {', '.join(lacking)} (header: {', '.join(cols) or 'none'}); "
                         f"the CSV needs a header image,rate,bytes")
    out: dict[tuple[str, str], int] = {}
    for line, row in enumerate(reader, start=2):
        image, rate, value = (str(row.get(cols[c]) or "").strip() for c in ("image", "rate", "bytes"))
        if not (image or rate or value):
            continue
        try:
            n = float(value)
        except ValueError:
            n = float("nan")
        if not image or not rate or not (math.isfinite(n) and n > 0 and n == int(n)):
            raise BenchError(f"--bytes {path} line {line}: need an image name, a rate point and a positive whole "
                             f"number of bytes, got image='{image}' rate='{rate}' bytes='{value}'")
        key = (_point_key(rate), Path(image).stem)
        if key in out and out[key] != int(n):
            raise BenchError(f"--bytes {path} line {line}: {image} at rate {rate} is declared twice "
                             f"({out[key]} and {int(n)} bytes); keep one")
        out[key] = int(n)
    if not out:
        raise BenchError(f"--bytes {path} has no rows; add one line image,rate,bytes per reconstruction")
    return out


def _check_codec_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BenchError(f"--codec '{name}': use letters, digits and . _ + - only (e.g. perco or stablecodec-1.0)")


def _scan_point(folder: Path, images: dict[str, ImageItem], rel: str, notes: list[str]) -> tuple[dict, dict]:
    """Recon and bitstream files of one point folder, by image stem; other files become one note."""
    recons: dict[str, Path] = {}
    bits: dict[str, Path] = {}
    extra = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if not p.is_file() or p.stem not in images:
            extra.append(p.name + ("/" if p.is_dir() else ""))
            continue
        kind = recons if p.suffix.lower() in RECON_SUFFIXES else bits
        if p.stem in kind:
            what = "reconstructions" if kind is recons else "bitstream files"
            raise BenchError(f"{rel}: two {what} for image {p.stem} ({kind[p.stem].name}, {p.name}); keep one")
        kind[p.stem] = p
    if extra:
        notes.append(f"{rel}: ignored {len(extra)} file(s) that name no image of the dataset: "
                     f"{', '.join(extra[:5])}{', ...' if len(extra) > 5 else ''}")
    return recons, bits


def _check_size(item: _Item, rel: str) -> None:
    """Before anything is written: a reconstruction must have its original's size."""
    try:
        with Image.open(item.recon) as img:
            check_supported(img, rel)        # a 16-bit file: refused here, not half-way through storing
            w, h = img.size
    except BenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's fault: name it
        raise BenchError(f"cannot read reconstruction {rel}: {exc}; replace or remove the file") from None
    if (h, w) != (item.image.height, item.image.width):
        raise BenchError(f"reconstruction {rel} is {w}x{h} (WxH) but original {item.image.name} is "
                         f"{item.image.width}x{item.image.height}; crop or pad the reconstruction to the original's "
                         f"size (a codec that pads must crop after decoding)")


def plan_import(opts: ImportOptions, report: ImportReport):
    """Match the folder against the dataset: items to import, error rows to write, notes."""
    _check_codec_name(opts.codec)
    root = Path(opts.folder)
    if not root.is_dir():
        raise BenchError(f"reconstruction folder {root} does not exist or is not a folder; pass DIR holding "
                         f"DIR/<rate point>/<image>.png")
    declared = read_bytes_csv(Path(opts.bytes_csv)) if opts.bytes_csv else None
    dataset = resolve_dataset(opts.dataset)
    images = {i.name: i for i in dataset.images}
    top = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    point_dirs = sorted((p for p in top if p.is_dir()), key=lambda p: _sort_key(p.name))
    loose = [p.name for p in top if not p.is_dir()]
    if not point_dirs:
        raise BenchError(f"{root} has no rate-point subfolders; put reconstructions in {root}/<rate point>/"
                         f"<image>.png (e.g. {root}/1/{next(iter(images))}.png)")
    if loose:
        report.notes.append(f"{root}: ignored {len(loose)} file(s) outside the rate-point folders: "
                            f"{', '.join(loose[:5])}{', ...' if len(loose) > 5 else ''}")
    items: list[_Item] = []
    missing: list[tuple[str, ImageItem, str]] = []
    ignored_bits = 0
    used_declared: set[tuple[str, str]] = set()
    for d in point_dirs:
        rel = f"{root.name}/{d.name}"
        recons, bits = _scan_point(d, images, rel, report.notes)
        if not recons:
            report.notes.append(f"{rel}: no reconstruction named after an image of dataset '{dataset.name}'; "
                                f"folder skipped")
            continue
        report.points.append(d.name)
        for name, img in images.items():
            recon = recons.get(name)
            if recon is None:
                missing.append((d.name, img, f"no reconstruction {rel}/{name}.png"))
                continue
            item = _Item(d.name, img, recon, None, None)
            if declared is not None:
                key = (_point_key(d.name), name)
                if key not in declared:
                    why = f"--bytes {opts.bytes_csv.name} has no row for image {name} at rate {d.name}"
                    missing.append((d.name, img, why))
                    continue
                item.declared = declared[key]
                used_declared.add(key)
                ignored_bits += name in bits
            elif name in bits:
                item.bitstream = bits[name]
                if item.bitstream.stat().st_size == 0:
                    raise BenchError(f"bitstream {rel}/{item.bitstream.name} is empty; replace it or pass --bytes")
            else:
                why = f"no bitstream {rel}/{name}.<ext> beside {recon.name}; add it or declare sizes with --bytes CSV"
                missing.append((d.name, img, why))
                continue
            _check_size(item, f"{rel}/{recon.name}")
            items.append(item)
    if not report.points:
        raise BenchError(f"{root}: no reconstruction is named after an image of dataset '{dataset.name}' "
                         f"(e.g. {root}/{point_dirs[0].name}/{next(iter(images))}.png); check --dataset and file names")
    if ignored_bits:
        report.notes.append(f"ignored {ignored_bits} bitstream file(s): --bytes declares the sizes")
    if declared is not None and len(declared) > len(used_declared):
        report.notes.append(f"--bytes: ignored {len(declared) - len(used_declared)} row(s) that match no "
                            f"reconstruction")
    return dataset, items, missing


def _row(opts: ImportOptions, dataset, img: ImageItem, point: str, chash: str) -> JobRow:
    setting = setting_of(point)
    return JobRow(key=cache_key(opts.codec, chash, setting, img.pixel_hash, None), dataset=dataset.name,
                  image=img.name, image_hash=img.pixel_hash, image_path=img.path, height=img.height,
                  width=img.width, codec=opts.codec, codec_spec=opts.codec, config_hash=chash,
                  rate_param=RATE_PARAM, rate=_number(point), target_bpp=None, setting=setting)


def _store_item(store: Store, row: JobRow, item: _Item, root: Path, prior: JobRow | None) -> tuple[JobRow, bool]:
    """The finished row, its artifacts written as a run's are; False when `prior` already holds it."""
    recon = load_rgb(item.recon)
    recon_hash = pixel_sha256(recon)
    data = item.bitstream.read_bytes() if item.bitstream else b""
    ext = (item.bitstream.suffix.lstrip(".") or "bin") if item.bitstream else "bin"
    bits_rel, recon_rel = artifact_paths(row, data, recon_hash, ext)
    n_bytes = len(data) if item.bitstream else item.declared
    source = BPP_FILES if item.bitstream else BPP_DECLARED
    detail = {"imported_from": str(item.recon.relative_to(root.parent))}
    if item.bitstream:
        detail["bitstream"] = str(item.bitstream.relative_to(root.parent))
    done = row.outcome(status="ok", error=None, rate=row.rate, bytes=n_bytes,
                       bpp=8.0 * n_bytes / (row.height * row.width), bpp_source=source,
                       bitstream_path=bits_rel if item.bitstream else None, recon_path=recon_rel,
                       recon_hash=recon_hash, detail=json.dumps(detail))
    same = prior is not None and all(getattr(prior, f) == getattr(done, f) for f in
                                     ("recon_hash", "bytes", "bpp_source", "bitstream_path"))
    if same and (store.root / recon_rel).exists() and (not item.bitstream or (store.root / bits_rel).exists()):
        return prior, False
    if item.bitstream:
        atomic_write(store.root / bits_rel, data)
    if not (store.root / recon_rel).exists():
        atomic_write(store.root / recon_rel, png_bytes(recon))
    return done, True


def import_recons(opts: ImportOptions, console: Console | None = None) -> ImportReport:
    console = console or Console(stderr=True)
    report = ImportReport(codec=opts.codec)
    metric_names = list(dict.fromkeys(opts.metrics))
    for name in metric_names:
        METRICS.entry(name)              # unknown names fail before any work
    dataset, items, missing = plan_import(opts, report)
    from ..codec import CODECS
    if CODECS.canonical(opts.codec) is not None:
        report.notes.append(f"'{opts.codec}' is also a codec of this suite: where both are stored, tables label "
                            f"them by configuration ({opts.codec}@<hash>); pick another --codec to keep them apart")
    report.dataset = dataset.name
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    source = BPP_DECLARED if opts.bytes_csv else BPP_FILES
    desc = describe(opts.codec, Path(opts.folder), source)
    chash = report.config_hash = describe_hash(desc)
    root = Path(opts.folder)

    store = Store(opts.out)
    lock = getattr(store, "writer_lock", None)
    try:
        with lock() if lock else contextlib.nullcontext():
            report.run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
            env = environment()
            env.update(dataset=dataset.name, dataset_root=str(dataset.root), codecs=[opts.codec],
                       metrics=metric_names, device=opts.device,
                       import_recons={"folder": str(root.resolve()), "bpp_source": source,
                                      "bytes_csv": str(opts.bytes_csv) if opts.bytes_csv else None})
            store.start_run(report.run_id, sys.argv, env)
            store.put_codec_config(chash, opts.codec, desc)
            rows = [(_row(opts, dataset, it.image, it.point, chash), it) for it in items]
            prior = {r.key: r for r in store.ok_jobs(r.key for r, _ in rows)}
            for row, item in rows:
                done, changed = _store_item(store, row, item, root, prior.get(row.key))
                if changed:
                    store.put_job(done.outcome(run_id=report.run_id))
                    report.stored += 1
                else:
                    report.unchanged += 1
            for point, img, why in missing:
                row = _row(opts, dataset, img, point, chash)
                store.put_job(row.outcome(status="error", error=why, run_id=report.run_id))
                report.missing.append((row.setting, img.name, why))
            console.print(f"imported {len(items)} reconstruction(s) of '{opts.codec}' on {dataset.name} "
                          f"({len(report.points)} rate points, bpp from {source}): {report.stored} stored, "
                          f"{report.unchanged} unchanged, {len(missing)} missing -> {opts.out}")
            _metrics(opts, store, [r.key for r, _ in rows], metric_names, report, console)
            env["missing_metrics"] = report.missing_metrics
            store.finish_run(report.run_id, env)
    finally:
        store.close()
    return report


def _metrics(opts: ImportOptions, store: Store, keys: list[str], names: list[str], report: ImportReport,
             console: Console) -> None:
    """The same per-image and dataset-level metric stages as `bench run`, over the imported rows."""
    ok_rows = store.ok_jobs(keys)
    if not ok_rows or not names:
        return
    models = Models(opts.device)
    metrics = make_metrics(names, models, report.missing_metrics, console)
    per_image = [m for m in metrics if m.kind != "distribution"]
    if per_image:
        from .image_metrics import compute_per_image_metrics
        compute_per_image_metrics(store, ok_rows, per_image, opts.device, opts.batch_size)
    dist = [m for m in metrics if m.kind == "distribution"]
    if dist:
        from .dataset_metrics import run_distribution_metrics
        run_distribution_metrics(store, ok_rows, dist, opts.device)
