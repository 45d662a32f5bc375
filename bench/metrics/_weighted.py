"""Shared by every metric that runs a network: its versions are the libraries it uses plus
the sha256 of each weight file, and it is unavailable while a weight or package is missing."""

from __future__ import annotations

from typing import ClassVar

from .. import weights as W


class WeightedNetwork:
    """Mixin for Metric classes; set `weights`, `libraries` and `packages` as class data."""
    weights: ClassVar[tuple[str, ...]]
    libraries: ClassVar[tuple[str, ...]] = ("torch",)            # distributions named in versions()
    packages: ClassVar[tuple[tuple[str, str], ...]] = ()          # (import name, distribution) needed

    def versions(self) -> dict[str, str]:
        out = W.library_versions(*self.libraries)
        out.update({f"weights:{n}": W.spec(n).sha256 for n in self.weights})
        return out

    @classmethod
    def unavailable(cls) -> str | None:
        return W.unavailable(*cls.weights, packages=cls.packages)
