"""User checkpoints (`--codecs NAME:checkpoint=PATH`): one state-dict file used at every
rate point, or a folder with one file per rate point. A file's sha256 (not its path) is
what identifies the results, so moving a checkpoint keeps its cache keys.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from ..errors import BenchError

SUFFIXES = (".pth.tar", ".pth", ".pt", ".ckpt", ".tar", ".safetensors")


@lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def _label(rate: float) -> str:
    return f"{rate:g}"


class UserCheckpoint:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise BenchError(f"checkpoint {self.path} not found; fix checkpoint=PATH (a state-dict file, or a "
                             "folder with one file per rate point)")

    def _folder_files(self) -> dict[str, Path]:
        """Rate label -> file: '3.pth', '3.pth.tar', ... or an official-style 'arch-3-1a2b3c4d.pth.tar'."""
        out = {}
        for f in sorted(self.path.iterdir()):
            name = f.name
            suffix = next((s for s in SUFFIXES if name.endswith(s)), None)
            if not f.is_file() or suffix is None:
                continue
            stem = name[: -len(suffix)]
            official = re.fullmatch(r".+-([0-9.]+)-[0-9a-f]{8}", stem)
            label = official.group(1) if official else stem
            try:
                out[_label(float(label))] = f
            except ValueError:
                continue
        return out

    def file(self, rate: float) -> Path:
        if self.path.is_file():
            return self.path
        files = self._folder_files()
        if _label(rate) not in files:
            have = ", ".join(f"{k}: {v.name}" for k, v in files.items()) or "no checkpoint files"
            raise BenchError(f"checkpoint folder {self.path} has no file for rate point {_label(rate)} "
                             f"(name files like {_label(rate)}.pth); it has {have}")
        return files[_label(rate)]

    def identity(self) -> dict:
        """What goes into describe() (and the cache key): the sha256 of each file, never the path."""
        if self.path.is_file():
            return {"sha256": file_sha256(self.path)}
        files = self._folder_files()
        if not files:
            raise BenchError(f"checkpoint folder {self.path} holds no checkpoint file (*{', *'.join(SUFFIXES)})")
        return {"sha256": {k: file_sha256(v) for k, v in files.items()}}


def load_state_dict(path: Path) -> dict:
    """The tensors of a checkpoint file: a state dict, or one wrapped as {"state_dict": ...} or
    {"model": ...} (Lightning, training scripts), with any DataParallel "module." prefix removed."""
    import torch
    if path.name.endswith(".safetensors"):
        from safetensors.torch import load_file
        sd = load_file(str(path))
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise BenchError(f"checkpoint {path} is not a loadable state dict ({type(exc).__name__}: {exc})") from None
    for key in ("state_dict", "model", "network"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not sd:
        raise BenchError(f"checkpoint {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in sd.items()}
