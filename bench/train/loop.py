"""The training loop behind `bench train`: a config's stages in order, resumable.

Stages come from the config (`[[train.stages]]`: name, trains, steps, lr, lr_steps, batch,
crop and the loss's own settings); `--steps N` rescales every stage's steps so they add up
to N (a demo of a paper schedule keeps its proportions). Every step's crops and random
draws are a function of (seed, step), so a resumed run continues the same sequence.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BenchError
from .checkpoint import (
    CONFIG,
    LOG,
    STATE,
    WEIGHTS,
    config_sha256,
    save_weights,
    write_json,
)
from .data import TrainImages


@dataclass
class Stage:
    index: int
    first: int          # global step of its first update
    steps: int
    table: dict

    @property
    def name(self) -> str:
        return self.table["name"]

    def lr(self, step: int) -> float:
        """The stage's lr, then each [fraction, lr] of lr_steps once that fraction is done."""
        lr, done = float(self.table["lr"]), (step - self.first) / max(self.steps, 1)
        for fraction, value in self.table.get("lr_steps", []):
            if done >= fraction:
                lr = float(value)
        return lr


def plan_stages(tables: list[dict], total: int | None) -> list[Stage]:
    if not tables:
        raise BenchError("the config has no [[train.stages]]")
    counts = [int(t["steps"]) for t in tables]
    if total is not None:
        if total < len(tables):
            raise BenchError(f"--steps {total} is fewer than the config's {len(tables)} stages")
        whole = sum(counts)
        counts = [max(1, round(total * c / whole)) for c in counts]
        counts[-1] += total - sum(counts)
    out, first = [], 0
    for i, (t, n) in enumerate(zip(tables, counts)):
        out.append(Stage(i, first, n, t))
        first += n
    return out


def _optimizer(params, stage: Stage, settings: dict):
    import torch
    return torch.optim.AdamW(params, lr=stage.lr(stage.first), betas=tuple(settings.get("betas", (0.9, 0.999))),
                             weight_decay=float(settings.get("weight_decay", 0.0)))


def _seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2 ** 63)


def parameter_summary(model) -> str:
    from ..diffusion.denoisers import parameter_count
    parts = {n: parameter_count(m) for n, m in model.named_children()}
    parts["autoencoder (frozen)"] = parameter_count(model.autoencoder.net)
    return ("parameters: " + ", ".join(f"{n} {c / 1e6:.3f}M" for n, c in parts.items())
            + f"; total {sum(parts.values()) / 1e6:.3f}M")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows past the checkpoint a resumed run starts from (they will be redone)."""
    if path.is_file():
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        keep = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
        if len(keep) != len(rows):
            with path.open("w", newline="") as fh:
                csv.writer(fh).writerows(keep)


def train(codec_cls, config: dict, data: str, out: Path, steps: int | None = None, device: str = "cpu",
          batch: int | None = None, echo=print) -> dict:
    import torch
    from tqdm import tqdm

    stages = plan_stages(config["train"]["stages"], steps)
    total = stages[-1].first + stages[-1].steps
    settings = config["train"]
    sha = config_sha256(config)
    out.mkdir(parents=True, exist_ok=True)
    meta_file, state_file, log_file = out / CONFIG, out / STATE, out / LOG
    start, state = 0, None
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta.get("codec") != codec_cls.name or meta.get("config_sha256") != sha or meta.get("total_steps") != total:
            raise BenchError(f"{out} holds a training run of another codec, config or step count "
                             f"({meta.get('codec')}, {meta.get('total_steps')} steps); use a new --out")
        if state_file.is_file():
            state = torch.load(state_file, map_location="cpu", weights_only=False)
            start = int(state["step"])
        _truncate_log(log_file, start)
        if start >= total:
            echo(f"{out}: already trained ({total} steps); nothing to do")
            return meta

    torch.manual_seed(int(settings.get("seed", 0)))     # the initial weights are part of the run
    model = codec_cls.build_model(config)
    echo(parameter_summary(model))
    if state is not None:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(str(out / WEIGHTS)), strict=False)
        echo(f"resuming {out} at step {start} of {total}")
    model.to(device).train()
    images = TrainImages(data)
    meta = {"codec": codec_cls.name, "config": config, "config_sha256": sha, "total_steps": total,
            "step": start, "complete": False, "data": {"name": images.name, "images": len(images)},
            "autoencoder": model.autoencoder.identity, "versions": codec_cls.training_versions()}

    def save(step: int, opt, stage: Stage) -> None:
        save_weights(model, out / WEIGHTS, skip=model.derived_keys)
        torch.save({"step": step, "stage": stage.index, "optimizer": opt.state_dict()}, state_file)
        meta.update(step=step, complete=step >= total)
        write_json(meta_file, meta)

    new_log = not log_file.exists()
    log = log_file.open("a", newline="")
    writer = None
    bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)
    opt, current, t0, step = None, None, time.perf_counter(), start
    try:
        for step in range(start, total):
            stage = next(s for s in stages if s.first <= step < s.first + s.steps)
            if stage is not current:
                opt = _optimizer(model.trainable(stage.table), stage, settings.get("optimizer", {}))
                if state is not None and state.get("stage") == stage.index and step == start:
                    opt.load_state_dict(state["optimizer"])
                current = stage
                bar.set_description(stage.name)
            for group in opt.param_groups:
                group["lr"] = stage.lr(step) * group.get("lr_factor", 1.0)
            torch.manual_seed(_seed(int(settings.get("seed", 0)), step))
            x = images.crops(step, int(batch or stage.table["batch"]), int(stage.table["crop"]),
                             int(settings.get("seed", 0))).to(device)
            loss, terms = model.loss(stage.table, x)
            if not torch.isfinite(loss):
                raise BenchError(f"the loss became {loss.item()} at step {step} ({stage.name}); lower the "
                                 "stage's lr or check the data")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            row = {"step": step + 1, "stage": stage.name, "loss": f"{loss.item():.6g}",
                   **{k: f"{float(v):.6g}" for k, v in terms.items()}, "lr": f"{stage.lr(step):.3g}",
                   "seconds": f"{time.perf_counter() - t0:.1f}"}
            if writer is None:     # the columns: every term the model can log, in its order
                fields = ["step", "stage", "loss", *getattr(model, "log_terms", ()), "lr", "seconds"]
                writer = csv.DictWriter(log, fieldnames=fields, extrasaction="ignore")
                if new_log:
                    writer.writeheader()
            writer.writerow(row)
            bar.set_postfix(loss=row["loss"], refresh=False)
            bar.update(1)
            done = step + 1
            if done % int(settings.get("save_every", 500)) == 0 or done == stage.first + stage.steps:
                log.flush()
                save(done, opt, stage)
    except KeyboardInterrupt:
        if opt is not None and step > start:
            save(step, opt, current)       # `step` updates finished; the interrupted one is redone
        raise BenchError(f"interrupted at step {meta['step']} of {total}; checkpoint saved in {out}; "
                         "run the same command to resume") from None
    finally:
        bar.close()
        log.close()
    echo(f"trained {total} steps in {time.perf_counter() - t0:.0f} s; checkpoint {out} "
         f"(use --codecs {codec_cls.name}:checkpoint={out})")
    return meta
