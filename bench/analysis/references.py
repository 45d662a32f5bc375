"""Published RD curves (papers, libraries) stored next to a run's results as "reference"
codecs: they are drawn in plots and usable as BD-rate anchors, but were never run here.

Two input formats:
- CompressAI-style JSON: {"name": ..., "description": ..., "results": {"bpp": [...],
  "psnr-rgb": [...], "ms-ssim-rgb": [...], ...}} (older files say "psnr"/"ms-ssim");
- CSV with a `bpp` column and one column per metric (the curve name is the file stem
  unless --name is given).

Points live in their own table of the results database (bench.store.schema.ReferencePointRow),
so importing never touches the run tables and re-importing a curve replaces it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import BenchError
from ..store.schema import ReferencePointRow

# Source key -> this project's metric column. CompressAI's psnr(-rgb) and ms-ssim(-rgb) are
# means of per-image RGB values, the same definition as the `psnr` / `ms-ssim` columns.
METRIC_ALIASES = {"psnr-rgb": "psnr", "psnr": "psnr", "ms-ssim-rgb": "ms-ssim", "ms-ssim": "ms-ssim",
                  "msssim": "ms-ssim", "lpips": "lpips", "dists": "dists", "fid": "fid", "kid": "kid"}
# Keys of a results dict that are not quality values.
NON_METRIC_KEYS = {"bpp", "encoding_time", "decoding_time", "encoding_time_s", "decoding_time_s",
                   "name", "rate", "quality", "qp", "lambda"}
BPP_SOURCE = "reference"


@dataclass
class ReferenceCurves:
    name: str
    description: str
    source: str
    sha256: str
    dataset_hint: str | None = None
    metrics: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)  # column -> (bpp, values)
    dropped: dict[str, int] = field(default_factory=dict)    # column -> points left out (NaN/inf bpp or value)


def _numbers(path: Path, key: str, values) -> list[float]:
    if not isinstance(values, list) or not values:
        raise BenchError(f"{path}: '{key}' must be a non-empty list of numbers")
    try:
        return [float(v) if v is not None else math.nan for v in values]
    except (TypeError, ValueError):
        raise BenchError(f"{path}: '{key}' holds a value that is not a number") from None


def _column(key: str) -> str:
    key = key.strip().lower()
    return METRIC_ALIASES.get(key, key)


def _add(curves: ReferenceCurves, path: Path, column: str, bpp: list[float], values: list[float]) -> None:
    if len(values) != len(bpp):
        raise BenchError(f"{path}: '{column}' has {len(values)} values but bpp has {len(bpp)}; "
                         "every metric needs one value per bpp point")
    if column in curves.metrics:
        raise BenchError(f"{path}: two keys map to metric '{column}'; keep one")
    # a blank or NaN cell is a point the source did not measure: it is not a point of the curve
    finite = [(b, v) for b, v in zip(bpp, values) if math.isfinite(b) and math.isfinite(v)]
    if not finite:
        raise BenchError(f"{path}: '{column}' has no point with a finite bpp and value; fill it in or drop the column")
    curves.metrics[column] = ([b for b, _ in finite], [v for _, v in finite])
    curves.dropped[column] = len(values) - len(finite)


def read_compressai_json(path: Path, name: str | None = None) -> ReferenceCurves:
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path} is not valid JSON ({exc})") from None
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, dict) or "bpp" not in results:
        raise BenchError(f"{path}: not a CompressAI-style results file (needs \"results\": {{\"bpp\": [...], ...}})")
    curve_name = name or doc.get("name")
    if not curve_name:
        raise BenchError(f"{path}: no \"name\" field; pass --name")
    curves = ReferenceCurves(str(curve_name), str(doc.get("description", "")), str(path),
                             hashlib.sha256(raw).hexdigest(), doc.get("dataset"))
    bpp = _numbers(path, "bpp", results["bpp"])
    for key, values in results.items():
        if key.lower() in NON_METRIC_KEYS:
            continue
        _add(curves, path, _column(key), bpp, _numbers(path, key, values))
    if not curves.metrics:
        raise BenchError(f"{path}: \"results\" has bpp but no metric lists")
    return curves


def read_csv(path: Path, name: str | None = None) -> ReferenceCurves:
    raw = path.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    header = {h.strip().lower(): h for h in (rows[0].keys() if rows else [])}
    if "bpp" not in header:
        raise BenchError(f"{path}: a reference CSV needs a 'bpp' column and one column per metric")
    curves = ReferenceCurves(name or path.stem, "", str(path), hashlib.sha256(raw).hexdigest())

    def col(h: str) -> list[float]:
        try:
            return [float(r[h]) if str(r[h]).strip() else math.nan for r in rows]
        except ValueError:
            raise BenchError(f"{path}: column '{h}' holds a value that is not a number") from None
    bpp = col(header["bpp"])
    for low, h in header.items():
        if low not in NON_METRIC_KEYS:
            _add(curves, path, _column(low), bpp, col(h))
    if not curves.metrics:
        raise BenchError(f"{path}: no metric column besides bpp")
    return curves


READERS = {".json": read_compressai_json, ".csv": read_csv}


def read_reference_file(path: str | Path, name: str | None = None) -> ReferenceCurves:
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"reference file {path} not found")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise BenchError(f"{path}: unknown reference format '{path.suffix}'; use a CompressAI-style .json "
                         "or a .csv with bpp and metric columns")
    return reader(path, name)


def import_reference(store, path: str | Path, dataset: str | None = None, name: str | None = None) -> ReferenceCurves:
    """Store one file's curves; the dataset comes from --dataset, the file, or its folder name."""
    curves = read_reference_file(path, name)
    dataset = dataset or curves.dataset_hint or Path(path).resolve().parent.name
    curves.dataset_hint = dataset
    if curves.name in store.codecs_run_on(dataset):
        raise BenchError(f"reference curve name '{curves.name}' is also a codec run in {store.root} on "
                         f"'{dataset}'; import it under another name with --name")
    now = time.time()
    rows = [ReferencePointRow(curves.name, dataset, metric, i, b, v, curves.source, curves.sha256,
                              curves.description, now)
            for metric, (bpp, values) in curves.metrics.items() for i, (b, v) in enumerate(zip(bpp, values))]
    store.put_reference_curves(curves.name, dataset, rows)
    return curves


def reference_points(store, dataset: str | None = None, names: list[str] | None = None) -> pd.DataFrame:
    """Reference curves shaped like results.rd_points rows (bpp_source 'reference')."""
    long = store.reference_frame()
    if dataset:
        long = long[long["dataset"] == dataset]
    if names:
        long = long[long["name"].isin(names)]
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index=["dataset", "name", "bpp"], columns="metric", values="value",
                            aggfunc="first").reset_index()
    wide.columns.name = None
    sources = long.groupby(["dataset", "name"])["source_sha256"].first()
    wide = wide.rename(columns={"name": "codec"})
    wide["config_hash"] = [f"ref-{sources[(d, c)][:12]}" for d, c in zip(wide["dataset"], wide["codec"])]
    wide["setting"] = [f"bpp={b:.6g}" for b in wide["bpp"]]
    wide["mask_set"] = ""
    wide["bpp_source"] = BPP_SOURCE
    wide["n_images"] = math.nan
    wide["n_errors"] = 0
    return wide.sort_values(["dataset", "codec", "bpp"]).reset_index(drop=True)


def reference_sources(store) -> list[dict]:
    """One entry per imported curve: name, dataset, file, sha256, description, metrics."""
    return store.reference_sources()
