"""Dataset manifests: one small TOML per dataset in the project's datasets/ folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from ..errors import BenchError
from ..paths import DATASET_MANIFESTS_DIR


@dataclass
class Manifest:
    name: str
    title: str
    license: str
    homepage: str
    image_count: int | None
    source: dict
    pixel_hashes: dict[str, str] = field(default_factory=dict)   # file name -> pixel sha256
    files: list[str] = field(default_factory=list)               # expected file names, when known
    path: Path | None = None
    split: str = ""             # "test": an evaluation set (bench train refuses it)

    @property
    def kind(self) -> str:
        return self.source.get("kind", "files")

    @property
    def archives(self) -> list[dict]:
        """The archives of an "archive" source: `[[source.archives]]` when a set spans several
        (CLIC 2020 test = professional + mobile), else the one the `[source]` table describes."""
        listed = self.source.get("archives")
        return list(listed) if listed else [{k: v for k, v in self.source.items() if k != "kind"}]


def _expected_files(data: dict) -> list[str]:
    if data.get("images"):
        return [img["file"] for img in data["images"]]
    spec = data.get("source", {}).get("files")
    if isinstance(spec, dict):
        return [spec["pattern"].format(i) for i in range(spec["first"], spec["last"] + 1)]
    return list(spec or [])


def _check_archives(path: Path, m: Manifest) -> None:
    """Every archive needs a url, and their file names must differ (they share `.download/`)."""
    if m.kind != "archive":
        return
    names = []
    for i, arc in enumerate(m.archives):
        if not isinstance(arc, dict) or not arc.get("url"):
            raise BenchError(f"dataset manifest {path}: archive {i + 1} has no url; give each "
                             "[[source.archives]] entry a url (and its sha256 where one is published)")
        names.append(Path(arc["url"]).name)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BenchError(f"dataset manifest {path}: two archives share the file name '{dup[0]}'; "
                         "each archive must have its own name")


def load_manifest(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"dataset manifest {path} is not valid TOML: {exc}") from None
    m = Manifest(
        name=data["name"], title=data.get("title", data["name"]), license=data.get("license", ""),
        homepage=data.get("homepage", ""), image_count=data.get("image_count"),
        source=data.get("source", {}),
        pixel_hashes={img["file"]: img["pixel_sha256"] for img in data.get("images", []) if "pixel_sha256" in img},
        files=_expected_files(data), path=path, split=data.get("split", ""))
    _check_archives(path, m)
    return m


def load_manifests(folder: Path = DATASET_MANIFESTS_DIR) -> dict[str, Manifest]:
    out = {}
    for path in sorted(Path(folder).glob("*.toml")):
        m = load_manifest(path)
        out[m.name] = m
    return out
