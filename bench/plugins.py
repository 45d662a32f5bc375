"""Importing every module of a package once: how built-in metrics, mask generators and CLI
commands register themselves (their decorators run on import)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def import_submodules(package: str, path, skip: tuple[str, ...] = ("base",)) -> list[ModuleType]:
    """Modules of `package` (its __path__ is `path`), skipping private (`_x`) and `skip` names."""
    return [importlib.import_module(f"{package}.{info.name}")
            for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name)
            if not info.name.startswith("_") and info.name not in skip]
