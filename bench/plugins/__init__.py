"""Plugin machinery shared by codecs, metrics, mask generators and CLI commands: one lazy
registry (registry.py) that learns names by reading source files (scan.py)."""

from .registry import Entry, Registry

__all__ = ["Entry", "Registry"]
