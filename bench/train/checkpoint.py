"""A training run's folder, which is also the codec's checkpoint:

    config.json        {"codec", "config" (the resolved model/training config), "config_sha256",
                        "autoencoder" (its weights' identity), "step", "total_steps", "complete",
                        "versions"}
    model.safetensors  the trained modules (not the frozen autoencoder, not derived coder tables)
    train_state.pt     optimizer, step, stage: what resuming needs (not needed to run the codec)
    loss.csv           step, stage, loss and the loss terms, learning rate, seconds

Files are written to a temporary name and renamed, so an interruption leaves the previous
checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import BenchError

CONFIG, WEIGHTS, STATE, LOG = "config.json", "model.safetensors", "train_state.pt", "loss.csv"


def config_sha256(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _replace(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_weights(module, path: Path, skip: tuple[str, ...] = ()) -> None:
    from safetensors.torch import save_file
    sd = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()
          if not any(k.endswith(s) for s in skip)}
    _replace(path, lambda p: save_file(sd, str(p)))


def write_json(path: Path, data: dict) -> None:
    _replace(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True)))


class TrainedRun:
    """A run folder read as a checkpoint (`checkpoint=DIR`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise BenchError(f"checkpoint {self.path} is not a folder; give checkpoint=DIR, the --out of "
                             "`bench train`")
        missing = [f for f in (CONFIG, WEIGHTS) if not (self.path / f).is_file()]
        if missing:
            raise BenchError(f"checkpoint folder {self.path} lacks {' and '.join(missing)}; it is not a finished "
                             "`bench train` folder (train it, or point checkpoint= at the right --out)")
        try:
            self.meta = json.loads((self.path / CONFIG).read_text())
        except ValueError as exc:
            raise BenchError(f"{self.path / CONFIG} is not valid JSON ({exc}); retrain into a new --out") from None

    @property
    def config(self) -> dict:
        return self.meta["config"]

    def weights(self) -> Path:
        return self.path / WEIGHTS

    def identity(self) -> dict:
        """What identifies results made with it: the weights' sha256 and the config's, never the path."""
        from ..learned.checkpoints import file_sha256
        return {"sha256": file_sha256(self.weights()), "config_sha256": self.meta.get("config_sha256"),
                "step": self.meta.get("step"), "complete": self.meta.get("complete")}
