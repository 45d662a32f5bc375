"""`bench results` (per-codec, per-rate table) and `bench export` (per-image rows)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import _options as O
from ._command import register_command

if TYPE_CHECKING:
    import pandas as pd


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def _column_order(column: str) -> tuple:
    from ..analysis.rd_points import split_column
    region, base = split_column(column)
    return (["full", "roi", "bg"].index(region), base.removesuffix("_mse") != "psnr", base)


def print_points(points: pd.DataFrame, console: Console, metrics: list[str] | None = None,
                 configs: dict | None = None) -> None:
    """`configs` (the store's codec configurations) names two configurations of one codec apart
    by their options, as plots and BD tables do. Both rate conventions are shown, labelled:
    the mean of per-image bpp (CompressAI, what curves and BD use) and corpus bpp (CLIC)."""
    from ..analysis.curves import add_labels
    from ..analysis.rd_points import (
        BPP_LABELS,
        PATCHES_SUFFIX,
        metric_columns,
        metric_meta,
        unstable_note,
        unstable_patches,
    )
    if points.empty:
        console.print("no results")
        return
    labels = add_labels(points, configs or {})["label"]     # a Series beside the points, not a column of them
    for (dataset, mask_set), block in points.groupby(["dataset", "mask_set"], sort=False):
        cols = metric_columns(block)
        if metrics:
            cols = [c for c in cols if any(c == m or c.startswith(m + "_") or c.endswith("-" + m) or
                                           c.endswith("-" + m + "_mse") for m in metrics)]
        cols = sorted((c for c in cols if block[c].notna().any()), key=_column_order)
        title = f"{dataset}" + (f"  (ROI masks: {mask_set})" if mask_set else "")
        legend = "; ".join(f"{c}: {metric_meta(None, c)['label']}" for c in cols)
        estimated = "; bpp*: estimated from the model's likelihoods" if (
            block["bpp_source"] == "estimated").any() else ""
        unstable: list[str] = []
        for c in cols:
            n_col = block.get(c + PATCHES_SUFFIX)
            if n_col is not None:
                unstable += [f"‡ {unstable_note(c, n)}" for n in sorted({int(n) for n in n_col if unstable_patches(n)})]
        table = Table(title=title, caption=f"bpp (mean): {BPP_LABELS['bpp']}; bpp (corpus): {BPP_LABELS['bpp_corpus']}. "
                      f"Metrics are means over images. {legend}{estimated}" + "".join(f"; {u}" for u in unstable))
        has_corpus = "bpp_corpus" in block
        for h in ["codec", "setting", "images", "bpp (mean)"] + (["bpp (corpus)"] if has_corpus else []) + cols:
            named = h == "codec" and (labels[block.index] != block["codec"]).any()   # labels with options: keep whole
            table.add_column(h, justify="left" if h in ("codec", "setting") else "right",
                             **({"overflow": "fold"} if named else {}))
        has_err = block["n_errors"].sum() > 0
        if has_err:
            table.add_column("errors", justify="right")
        has_missed = "target_missed" in block and block["target_missed"].sum() > 0
        if has_missed:
            table.add_column("target missed", justify="right")
        for i, r in block.iterrows():
            star = "*" if r.get("bpp_source") == "estimated" else ""
            cells = [labels[i], r["setting"], str(int(r["n_images"])), _fmt(r["bpp"]) + star]
            if has_corpus:
                cells.append(_fmt(r["bpp_corpus"]) + star)
            for c in cols:
                mark = "‡" if unstable_patches(r.get(c + PATCHES_SUFFIX)) and _present(r[c]) else ""
                cells.append(_fmt(r[c]) + mark)
            if has_err:
                cells.append(str(int(r["n_errors"])))
            if has_missed:
                cells.append(str(int(r["target_missed"])))
            table.add_row(*cells)
        console.print(table)


def print_skipped(skipped: list[dict], console: Console, limit: int = 10) -> None:
    """The images the last run over each dataset could not read: the table's means leave them out."""
    if not skipped:
        return
    console.print(f"[yellow]{len(skipped)} image(s) skipped as unreadable[/] (not in the means above):")
    for s in skipped[:limit]:
        console.print(f"  {s['dataset']}: {s['path']}: {s['reason']}")
    if len(skipped) > limit:
        console.print(f"  ... and {len(skipped) - limit} more (bench report lists them all)")


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


RUN_LIBRARIES = ("bench", "torch", "numpy", "pillow")   # the versions `--runs` shows (all are stored)


def run_summary(run: dict) -> dict:
    """One run as flat fields: id, times, command, job counts, versions, device, machine."""
    import datetime as dt
    env = json.loads(run.get("environment") or "{}")
    libs = env.get("libraries", {})
    machine = env.get("machine", {})
    started = dt.datetime.fromtimestamp(run["started"]).isoformat(" ", "seconds") if run.get("started") else "?"
    argv = json.loads(run.get("argv") or "[]")
    return {"run_id": run["run_id"], "started": started,
            "wall_s": round(run["finished"] - run["started"], 1) if run.get("finished") else None,
            "finished": bool(run.get("finished")), "jobs": run.get("jobs") or 0, "failed": run.get("failed") or 0,
            "command": " ".join(["bench", *argv[1:]]) if argv else "", "dataset": env.get("dataset", ""),
            "device": env.get("device", ""), "commit": (env.get("project_commit") or "")[:10],
            **{lib: libs.get(lib, "") for lib in RUN_LIBRARIES},
            "python": machine.get("python", ""), "gpu": machine.get("gpu", ""), "platform": machine.get("platform", "")}


def print_runs(runs: list[dict], console: Console, fmt: str) -> None:
    from ..errors import BenchError
    rows = [run_summary(r) for r in runs]
    if fmt == "csv":
        import csv
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["run_id"])
        writer.writeheader()
        writer.writerows(rows)
        return
    if fmt not in ("table", "md"):
        raise BenchError(f"--format must be table, csv or md, got '{fmt}'")
    if not rows:
        console.print("no runs")
        return
    table = Table(title="runs", caption="jobs: rows this run wrote (a reused job keeps the run that made it); "
                  "wall_s: empty when the run was interrupted")
    cols = [c for c in rows[0] if c not in ("finished", "platform")]
    for c in cols:
        table.add_column(c, justify="right" if c in ("wall_s", "jobs", "failed") else "left")
    for r in rows:
        table.add_row(*["-" if r[c] in (None, "") else str(r[c]) for c in cols])
    console.print(table)


@register_command("results", help="Per-codec, per-rate table: mean bpp, metrics, image count.")
def results(
    out: Path = O.Out,
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Only this dataset name."),
    codecs: Optional[str] = O.Codecs,
    metrics: Optional[str] = O.Metrics,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or md."),
    runs: bool = typer.Option(False, "--runs", help="List the runs instead: when, the command, jobs written, "
                              "library versions, device and machine."),
) -> None:
    from ..analysis.rd_points import rd_points
    from ..errors import BenchError
    from ..store import Store
    store = Store(out, create=False)
    if runs:
        print_runs(store.runs(), Console(), fmt)
        return
    points = rd_points(store, dataset=dataset, codecs=O.split_list(codecs) or None)
    if fmt == "table":
        print_points(points, Console(), O.split_list(metrics) or None, store.codec_configs())
        print_skipped(store.skipped_images(dataset), Console(stderr=True))
    elif fmt == "csv":
        points.to_csv(sys.stdout, index=False)
    elif fmt == "md":
        typer.echo(points.to_markdown(index=False) if hasattr(points, "to_markdown") else points.to_string())
    else:
        raise BenchError(f"--format must be table, csv or md, got '{fmt}'")


@register_command("export", help="Write the per-image rows (csv, parquet) or per-rate curves (compressai-json).")
def export(
    out: Path = O.Out,
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, parquet or compressai-json."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: stdout; parquet needs a file)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Only this dataset name."),
    codecs: Optional[str] = O.Codecs,
) -> None:
    from ..analysis.export import compressai_json, per_image_frame
    from ..analysis.rd_points import rd_points
    from ..errors import BenchError
    from ..store import Store
    store = Store(out, create=False)
    codec_list = O.split_list(codecs) or None
    if fmt == "csv":
        frame = per_image_frame(store, dataset, codec_list)
        frame.to_csv(output if output else sys.stdout, index=False)
    elif fmt == "parquet":
        if output is None:
            raise BenchError("--format parquet needs -o FILE.parquet")
        per_image_frame(store, dataset, codec_list).to_parquet(output, index=False)
    elif fmt == "compressai-json":
        data = compressai_json(rd_points(store, dataset=dataset, codecs=codec_list))
        text = json.dumps(data[0] if len(data) == 1 else data, indent=2, default=float)
        if output:
            output.write_text(text + "\n")
        else:
            typer.echo(text)
    else:
        raise BenchError(f"--format must be csv, parquet or compressai-json, got '{fmt}'")
    if output:
        Console(stderr=True).print(f"wrote {output}")
