"""`bench train`: train a codec's networks from a config; the --out folder is the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import _options as O
from ._command import register_command


@register_command("train", help="Train a codec (e.g. sde) from a config on a folder or dataset; resumable: run the same command again.")
def train(
    codec: str = typer.Argument(..., help="A trainable codec (`bench list codecs`): sde."),
    config: str = typer.Option("tiny", "--config", help="tiny (CPU demos, tests), paper (the paper's sizes; a GPU), or a .toml file."),
    data: str = typer.Option(..., "--data", help="Training images: a folder or a dataset name (test sets such as kodak are refused)."),
    out: Path = typer.Option(..., "--out", help="The run folder: checkpoint (model.safetensors + config.json), train_state.pt, loss.csv."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total steps; the config's stages are rescaled to add up to it (default: the config's own)."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Images per step (default: each stage's batch)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a config value: table.key=value (e.g. autoencoder.path=/models/taesd). Repeatable."),
    device: str = O.Device,
    codec_path: Optional[list[str]] = O.CodecPath,
) -> None:
    from ..codec.registry import CODECS, use_codec_paths
    from ..errors import BenchError
    from ..pipeline.models import resolve_device
    from ..train.loop import train as run_training

    use_codec_paths(codec_path or [])
    cls = CODECS.load(codec)
    if not hasattr(cls, "build_model"):
        raise BenchError(f"codec '{codec}' is not trainable here (its weights come from elsewhere); "
                         "trainable codecs: sde")
    cfg = cls.load_config(config, list(set_ or []))
    device = resolve_device(device)
    typer.echo(f"{codec}: config {config}", err=True)
    run_training(cls, cfg, data, out, steps=steps, device=device, batch=batch,
                 echo=lambda m: typer.echo(m, err=True))
