"""`bench results` (per-codec, per-rate table) and `bench export` (per-image rows)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from . import _options as O



def register(app: typer.Typer) -> None:
    app.command("results", help="Per-codec, per-rate table: mean bpp, metrics, image count.")(results)
    app.command("export", help="Write the per-image rows (csv, parquet) or per-rate curves (compressai-json).")(export)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def _column_order(column: str) -> tuple:
    from ..results import split_column
    region, base = split_column(column)
    return (["full", "roi", "bg"].index(region), base.removesuffix("_mse") != "psnr", base)


def print_points(points: pd.DataFrame, console: Console, metrics: list[str] | None = None) -> None:
    from ..results import metric_columns, metric_meta
    if points.empty:
        console.print("no results")
        return
    for (dataset, mask_set), block in points.groupby(["dataset", "mask_set"], sort=False):
        cols = metric_columns(block)
        if metrics:
            cols = [c for c in cols if any(c == m or c.startswith(m + "_") or c.endswith("-" + m) or
                                           c.endswith("-" + m + "_mse") for m in metrics)]
        cols = sorted((c for c in cols if block[c].notna().any()), key=_column_order)
        title = f"{dataset}" + (f"  (ROI masks: {mask_set})" if mask_set else "")
        legend = "; ".join(f"{c}: {metric_meta(None, c)['label']}" for c in cols)
        table = Table(title=title, caption=f"bpp and metrics are means over images. {legend}")
        for h in ["codec", "setting", "images", "bpp"] + cols:
            table.add_column(h, justify="left" if h in ("codec", "setting") else "right")
        has_err = block["n_errors"].sum() > 0
        if has_err:
            table.add_column("errors", justify="right")
        has_missed = "target_missed" in block and block["target_missed"].sum() > 0
        if has_missed:
            table.add_column("target missed", justify="right")
        for _, r in block.iterrows():
            bpp = _fmt(r["bpp"]) + ("*" if r.get("bpp_source") == "estimated" else "")
            cells = [r["codec"], r["setting"], str(int(r["n_images"])), bpp] + [_fmt(r[c]) for c in cols]
            if has_err:
                cells.append(str(int(r["n_errors"])))
            if has_missed:
                cells.append(str(int(r["target_missed"])))
            table.add_row(*cells)
        console.print(table)


def results(
    out: Path = O.Out,
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Only this dataset name."),
    codecs: Optional[str] = O.Codecs,
    metrics: Optional[str] = O.Metrics,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or md."),
) -> None:
    from ..errors import BenchError
    from ..results import rd_points
    from ..store import Store
    points = rd_points(Store(out, create=False), dataset=dataset, codecs=O.split_list(codecs) or None)
    if fmt == "table":
        print_points(points, Console(), O.split_list(metrics) or None)
    elif fmt == "csv":
        points.to_csv(sys.stdout, index=False)
    elif fmt == "md":
        typer.echo(points.to_markdown(index=False) if hasattr(points, "to_markdown") else points.to_string())
    else:
        raise BenchError(f"--format must be table, csv or md, got '{fmt}'")


EXPORT_COLUMNS = ["dataset", "image", "codec", "config_hash", "rate_param", "rate", "target_bpp", "setting",
                  "mask_set", "status", "error", "height", "width", "bytes", "bpp", "bpp_source", "encode_s",
                  "decode_s", "verified", "bitstream_path", "recon_path", "image_hash", "key"]

# CompressAI's result files name RGB metrics with an "-rgb" suffix.
COMPRESSAI_NAMES = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}


def per_image_frame(store, dataset=None, codecs=None) -> pd.DataFrame:
    from ..results import metric_columns
    frame = store.frame()
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    if codecs:
        frame = frame[frame["codec"].isin(codecs)]
    frame = frame.copy()
    for col in ("bitstream_path", "recon_path"):
        frame[col] = [str(store.root.resolve() / p) if isinstance(p, str) else None for p in frame[col]]
    cols = [c for c in EXPORT_COLUMNS if c in frame.columns] + sorted(metric_columns(frame))
    return frame[cols].sort_values(["dataset", "codec", "setting", "image"]).reset_index(drop=True)


def compressai_json(points: pd.DataFrame) -> list[dict]:
    from ..results import metric_columns
    out = []
    for (dataset, codec, mask_set), g in points.groupby(["dataset", "codec", "mask_set"], sort=False):
        g = g.sort_values("bpp")
        res = {"bpp": g["bpp"].tolist()}
        for c in metric_columns(g):
            if g[c].isna().all():
                continue
            res[COMPRESSAI_NAMES.get(c, c)] = g[c].tolist()
        res["encoding_time"] = g["encode_s"].tolist()
        res["decoding_time"] = g["decode_s"].tolist()
        out.append({"name": codec, "description": f"bench results on {dataset}" +
                    (f" with ROI masks {mask_set}" if mask_set else ""),
                    "dataset": dataset, g["rate_param"].iloc[0]: g["rate"].tolist(), "results": res})
    return out


def export(
    out: Path = O.Out,
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, parquet or compressai-json."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: stdout; parquet needs a file)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Only this dataset name."),
    codecs: Optional[str] = O.Codecs,
) -> None:
    from ..errors import BenchError
    from ..results import rd_points
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
