"""A mask set's manifest (masks/<set>/manifest.toml): which dataset it belongs to, how it
was made (method, parameters, seed, the exact command, library versions), its license,
and per image the ROI fraction, mask hash and the source image's pixel hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib

from ..errors import BenchError
from ..image import atomic_write

MANIFEST_NAME = "manifest.toml"
FORMAT_VERSION = 1
ROI_FRACTION_DEFINITION = ("mean of mask/255 over all pixels: the importance-weighted image "
                           "share; for a binary mask, exactly the share of ROI pixels")


def manifest_path(folder: str | Path) -> Path:
    return Path(folder) / MANIFEST_NAME


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The set's manifest, or None when the folder has none (a hand-made set)."""
    path = manifest_path(folder)
    if not path.is_file():
        return None
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"mask manifest {path} is not valid TOML: {exc}; fix or delete it") from None


def write_manifest(folder: str | Path, data: dict[str, Any]) -> Path:
    try:
        import tomli_w
    except ImportError:
        raise BenchError("writing a mask manifest needs tomli-w: pip install tomli-w==1.2.0") from None
    path = manifest_path(folder)
    atomic_write(path, tomli_w.dumps(data).encode())
    return path


def build_manifest(*, name: str, dataset: str, dataset_spec: str, method: str, description: str,
                   parameters: dict[str, Any], seed: int, command: str, license: str,
                   versions: dict[str, str], images: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """dataset: the resolved dataset's name; images: stem -> {roi_fraction, mask_sha256, image_pixel_sha256, width, height}."""
    return {
        "format": FORMAT_VERSION,
        "name": name,
        "dataset": dataset,
        "dataset_spec": dataset_spec,     # as given to --dataset (a name or a folder)
        "method": method,
        "description": description,
        "seed": seed,
        "command": command,
        "license": license,
        "roi_fraction_definition": ROI_FRACTION_DEFINITION,
        "image_count": len(images),
        "roi_fraction_summary": fraction_summary(images),
        "parameters": dict(parameters),
        "versions": dict(versions),
        "images": {stem: images[stem] for stem in sorted(images)},
    }


def fraction_summary(images: dict[str, dict[str, Any]]) -> dict[str, float]:
    fr = [float(v["roi_fraction"]) for v in images.values()]
    if not fr:
        return {}
    return {"min": round(min(fr), 6), "mean": round(sum(fr) / len(fr), 6), "max": round(max(fr), 6)}
