"""`bench masks make|show|list`: generate ROI mask sets, draw overlays, list sets and methods."""

from __future__ import annotations

import hashlib
import io
import shlex
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..errors import BenchError
from ..paths import DEFAULT_OUT, MASKS_DIR
from ._command import register_group

masks_app = register_group("masks", help="ROI mask sets (masks/<set>/<image-stem>.png): make, show, list.")


def _parse_params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--param '{item}' is not KEY=VALUE (e.g. --param fraction=0.3)")
        out[key.strip()] = value.strip()
    return out


def _set_folder(out: str) -> tuple[str, Path]:
    """A bare name is a set under masks/; anything with a path separator is a folder."""
    if "/" in out or "\\" in out or out.startswith("."):
        path = Path(out)
        return path.name, path
    return out, MASKS_DIR / out


def _format_value(v) -> str:
    return str(v)     # str(float) round-trips exactly, so the recorded command does too


@masks_app.command("make", help="Generate one mask per dataset image with a method "
                                "(see `bench masks list`) and write the set with its manifest.")
def make(dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset name or a folder of images."),
         method: str = typer.Option(..., "--method", "-M", help="Generator, e.g. saliency, centre-box, foveated, random."),
         out: str = typer.Option(..., "--out", "-o", help="Set name (written to masks/NAME/) or a folder path."),
         param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="Method parameter KEY=VALUE (repeatable)."),
         seed: int = typer.Option(0, "--seed", help="Seed of random methods; each image draws from (seed, stem)."),
         license: str = typer.Option("CC0-1.0", "--license", help="License of the generated masks."),
         force: bool = typer.Option(False, "--force", help="Replace an existing set's PNGs and manifest.")) -> None:
    from PIL import Image

    from ..datasets import resolve_dataset
    from ..image import atomic_write, load_rgb
    from ..masks.generators import get_generator, make_mask, roi_fraction, to_u8
    from ..masks.manifest import (
        build_manifest,
        fraction_summary,
        manifest_path,
        write_manifest,
    )

    gen = get_generator(method)
    params = gen.resolve_params(_parse_params(list(param or [])))
    name, folder = _set_folder(out)
    existing = folder.is_dir() and (any(folder.glob("*.png")) or manifest_path(folder).exists())
    if existing and not force:
        raise BenchError(f"mask set folder {folder} already has masks; pass --force to replace them")
    ds = resolve_dataset(dataset)
    console = Console(stderr=True)
    for path, reason in ds.skipped:
        console.print(f"[yellow]skipped image[/] {path}: {reason}")
    if existing:
        for old in folder.glob("*.png"):
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    records = {}
    for item in ds.images:
        image = load_rgb(item.path)
        mask = to_u8(make_mask(method, image, seed=seed, key=item.name, **params))
        if not mask.any():
            raise BenchError(f"method '{method}' gave an all-zero mask for '{item.name}'; "
                             "change its parameters")
        png = folder / f"{item.name}.png"
        buf = io.BytesIO()
        Image.fromarray(mask).save(buf, format="PNG", optimize=True)
        atomic_write(png, buf.getvalue())
        records[item.name] = {
            "roi_fraction": round(roi_fraction(mask / 255.0), 6),
            "mask_sha256": hashlib.sha256(mask.tobytes()).hexdigest(),
            "image_pixel_sha256": item.pixel_hash,
            "width": int(mask.shape[1]), "height": int(mask.shape[0]),
        }
    # Every resolved parameter is spelled out, so the command reproduces the set even if
    # a default changes later.
    command = shlex.join(["bench", "masks", "make", "--dataset", dataset, "--method", method,
                          "--out", out, "--seed", str(seed)]
                         + [a for k, v in params.items() for a in ("--param", f"{k}={_format_value(v)}")])
    manifest = build_manifest(name=name, dataset=ds.name, dataset_spec=dataset, method=method,
                              description=gen.description, parameters=params, seed=seed, command=command, license=license,
                              versions=gen().versions(), images=records)
    write_manifest(folder, manifest)
    s = fraction_summary(records)
    console.print(f"wrote {len(records)} masks + manifest.toml to {folder} (ROI fraction "
                  f"min {s['min']:.4f} / mean {s['mean']:.4f} / max {s['max']:.4f})")


@masks_app.command("show", help="Write an overlay PNG: the ROI outline (importance >= 0.5) on the image.")
def show(mask_set: str = typer.Argument(..., help="Mask set name (masks/NAME) or folder."),
         image: str = typer.Argument(..., help="Image stem (e.g. kodim23) or an image file."),
         dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Where the image stem is looked up "
                                               "(default: the set manifest's dataset)."),
         output: Optional[Path] = typer.Option(None, "--output", help="Overlay file "
                                               "(default results/masks/SET/STEM-overlay.png)."),
         dim: float = typer.Option(0.4, "--dim", help="Darken the background by this much (0: no dimming).")) -> None:
    from ..image import atomic_write, load_rgb, png_bytes
    from ..masks.manifest import read_manifest
    from ..masks.overlay import draw_roi_outline
    from ..masks.pairing import load_mask, mask_set_dir

    name, folder = mask_set_dir(mask_set)
    if not 0.0 <= dim < 1.0:
        raise BenchError(f"--dim must be in [0, 1), got {dim:g}")
    if Path(image).is_file():
        image_path, stem = Path(image), Path(image).stem
    else:
        stem = image
        man = read_manifest(folder) or {}
        spec = dataset or man.get("dataset_spec") or man.get("dataset")
        if not spec:
            raise BenchError(f"mask set '{name}' has no manifest naming its dataset; "
                             "pass --dataset or an image file path")
        from ..datasets import resolve_dataset
        items = {i.name: i for i in resolve_dataset(spec).images}
        if stem not in items:
            raise BenchError(f"no image '{stem}' in dataset '{spec}'; images: "
                             f"{', '.join(sorted(items)[:8])}{' ...' if len(items) > 8 else ''}")
        image_path = Path(items[stem].path)
    mask_file = folder / f"{stem}.png"
    if not mask_file.is_file():
        raise BenchError(f"no mask {mask_file} for image '{stem}' in mask set '{name}'")
    rgb = load_rgb(image_path)
    overlay = draw_roi_outline(rgb, load_mask(mask_file, rgb.shape[:2]), dim=dim)
    target = output or DEFAULT_OUT / "masks" / name / f"{stem}-overlay.png"
    atomic_write(Path(target), png_bytes(overlay))
    typer.echo(str(target))


@masks_app.command("list", help="Mask sets under masks/ and the generator methods with their parameters.")
def list_masks() -> None:
    from ..masks.generators import discover_generators
    from ..masks.manifest import read_manifest

    console = Console(width=200)
    sets = Table(title=f"mask sets in {MASKS_DIR}")
    for col in ("set", "dataset", "method", "masks", "ROI fraction min/mean/max", "license"):
        sets.add_column(col)
    folders = sorted(p for p in MASKS_DIR.iterdir() if p.is_dir()) if MASKS_DIR.is_dir() else []
    for folder in folders:
        try:
            m = read_manifest(folder) or {}
        except BenchError as exc:
            m = {"method": f"[red]{exc}[/]"}
        s = m.get("roi_fraction_summary") or {}
        frac = f"{s['min']:.3f} / {s['mean']:.3f} / {s['max']:.3f}" if s else "-"
        sets.add_row(folder.name, m.get("dataset", "?"), m.get("method", "? (no manifest)"),
                     str(len(list(folder.glob("*.png")))), frac, m.get("license", "?"))
    console.print(sets)

    methods = Table(title="methods (bench masks make --method M --param KEY=VALUE)")
    for col in ("method", "family", "parameters (default)", "available", "description"):
        methods.add_column(col)
    for name, cls in sorted(discover_generators().items()):
        params = ", ".join(f"{k}={_format_value(p.default)}" for k, p in cls.params.items()) or "-"
        why = cls.unavailable()
        methods.add_row(name, cls.family, params, "yes" if not why else f"[red]no: {why}[/]", cls.description)
    console.print(methods)
