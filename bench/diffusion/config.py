"""Model configurations as data: TOML files in a codec's configs/ folder (tiny.toml, paper.toml),
or a TOML file of the user's; `--set table.key=value` overrides (values read as TOML, else text)."""

from __future__ import annotations

import copy
from pathlib import Path

import tomllib

from ..errors import BenchError, unknown_name


def config_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))


def parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: dict, overrides: list[str] | dict) -> dict:
    config = copy.deepcopy(config)
    items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
    for key, value in items:
        *tables, leaf = key.split(".")
        node = config
        for t in tables:
            node = node.setdefault(t, {})
            if not isinstance(node, dict):
                raise BenchError(f"--set {key}: '{t}' is not a table of the config")
        node[leaf] = parse_value(value) if isinstance(value, str) else value
    return config


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise BenchError(f"--set {item!r}: write table.key=value (e.g. autoencoder.path=/models/taesd)")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def load_config(folder: Path, name: str, overrides: list[str] | dict = ()) -> dict:
    """A config by name (a file of `folder`) or by path, with overrides applied."""
    path = folder / f"{name}.toml"
    if not path.is_file():
        path = Path(name).expanduser()
        if not (path.suffix == ".toml" and path.is_file()):
            raise unknown_name("config", name, config_names(folder), "Use one of them or a .toml file.")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"config {path} is not valid TOML: {exc}") from None
    return apply_overrides(config, overrides)
