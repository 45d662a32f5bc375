"""Aggregating stored per-image rows into RD points (one per codec config x rate point)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..metrics import metric_metadata
from ..store.schema import JOB_COLUMNS, POINT_KEY, REGIONS

GROUP = list(POINT_KEY)
JOB_FIELDS = set(JOB_COLUMNS)
# Columns of rd_points() rows that are not metrics.
POINT_FIELDS = {"n_images", "n_errors", "bpp_source", "encode_s", "decode_s", "target_missed", "bpp_corpus"}
MSE_SUFFIX = "_mse"   # column suffix for "PSNR of the mean MSE"
# `fid_n_patches`: patches behind a dataset-level value (the fewer of reference and
# reconstruction patches); a count, not a metric.
PATCHES_SUFFIX = "_n_patches"
# Inception pool3 width. From fewer samples than this the 2048x2048 feature covariance is
# rank-deficient, so FID (and KID on the same features) is dominated by estimator noise.
INCEPTION_FEATURES = 2048
BPP_LABELS = {"bpp": "mean of per-image bpp (CompressAI)",
              "bpp_corpus": "total bits / total pixels (CLIC)"}


def split_column(column: str) -> tuple[str, str]:
    """'roi-lpips' -> ('roi', 'lpips'); 'psnr' -> ('full', 'psnr')."""
    for region in REGIONS:
        if column.startswith(region + "-"):
            return region, column[len(region) + 1:]
    return "full", column


def metric_meta(store, column: str) -> dict:
    """Direction, label, kind and region of a metric column, from the store or the registry."""
    region, base = split_column(column.removesuffix(MSE_SUFFIX))
    info = store.metric_info().get(column, {}).get("metadata") if store is not None else None
    registered = metric_metadata(base) or {}
    if not info:
        info = registered or {"name": base, "higher_is_better": True, "kind": "full-reference", "label": base}
    label = info.get("label") or base
    if column.endswith(MSE_SUFFIX):
        label += ", of the mean MSE"
    elif info.get("from_mean_mse") or registered.get("from_mean_mse"):
        label += ", mean of per-image values"
    if region != "full":
        label = f"{region.upper()} {label}"
    return {**info, "region": region, "label": label, "column": column}


def metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in JOB_FIELDS and c not in POINT_FIELDS
            and not str(c).endswith(PATCHES_SUFFIX)]


def corpus_bpp(ok: pd.DataFrame) -> float:
    """Total bits over total pixels (the CLIC convention): large images weigh more than in the
    per-image mean. Bits are bpp x pixels, so an estimated rate stays estimated here too."""
    pixels = pd.to_numeric(ok["height"], errors="coerce") * pd.to_numeric(ok["width"], errors="coerce")
    bpp = pd.to_numeric(ok["bpp"], errors="coerce")
    if not len(ok) or pixels.isna().any() or bpp.isna().any() or pixels.sum() <= 0:
        return float("nan")
    return float((bpp * pixels).sum() / pixels.sum())


def patch_count(detail) -> float:
    """Patches behind a stored FID/KID value: the fewer of reconstruction and reference
    patches (both estimate a distribution); NaN when the detail does not say."""
    try:
        info = json.loads(detail) if isinstance(detail, str) else {}
    except ValueError:
        return float("nan")
    counts = [info[k] for k in ("n_patches", "n_ref_patches") if isinstance(info.get(k), (int, float))]
    return float(min(counts)) if counts else float("nan")


def unstable_patches(n) -> bool:
    """True when a dataset-level value came from fewer patches than feature dimensions."""
    try:
        return math.isfinite(float(n)) and float(n) < INCEPTION_FEATURES
    except (TypeError, ValueError):
        return False


def unstable_note(metric: str, n) -> str:
    return (f"{metric} from {int(n)} patches < {INCEPTION_FEATURES} features: unstable; "
            "NeuralCompression does not report Kodak FID")


def _psnr_of_mean_mse(psnr: pd.Series) -> float:
    vals = psnr.dropna().to_numpy(dtype=float)
    if not len(vals):
        return float("nan")
    mse = 255.0 ** 2 * np.power(10.0, -vals / 10.0)
    m = mse.mean()
    return math.inf if m == 0 else 10.0 * math.log10(255.0 ** 2 / m)


def _target_missed(details: pd.Series) -> int:
    """Rows whose --target-bpp search ended outside tolerance or out of the knob's reach."""
    n = 0
    for d in details.dropna():
        try:
            info = json.loads(d)
        except (TypeError, ValueError):
            continue
        n += int(not info.get("reachable", True) or not info.get("within_tolerance", True))
    return n


def rd_points(store, dataset: str | None = None, codecs: list[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, codec, config_hash, setting, mask_set): mean bpp, mean metrics, counts.

    Means are over images (CompressAI's convention); `bpp_corpus` is total bits over total
    pixels (CLIC's), shown beside it. `psnr_mse`-style columns give the PSNR of the mean MSE
    for metrics whose class sets from_mean_mse. Dataset-level metrics (FID, KID) come with
    `<metric>_n_patches`, the patch count behind each value.
    """
    frame = store.frame()
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    if codecs:
        frame = frame[frame["codec"].isin(codecs)]
    if frame.empty:
        return pd.DataFrame(columns=GROUP + ["rate_param", "rate", "target_bpp", "n_images", "n_errors", "bpp",
                                             "bpp_corpus"])
    frame = frame.assign(mask_set=frame["mask_set"].fillna(""))
    mcols = metric_columns(frame)
    rows = []
    for key, g in frame.groupby(GROUP, sort=False, dropna=False):
        ok = g[g["status"] == "ok"]
        row = dict(zip(GROUP, key))
        row.update(rate_param=g["rate_param"].iloc[0], rate=ok["rate"].mean() if len(ok) else float("nan"),
                   target_bpp=g["target_bpp"].iloc[0], n_images=len(ok), n_errors=int((g["status"] != "ok").sum()),
                   bpp=ok["bpp"].mean() if len(ok) else float("nan"), bpp_corpus=corpus_bpp(ok),
                   bpp_source=ok["bpp_source"].iloc[0] if len(ok) else None,
                   encode_s=ok["encode_s"].mean() if len(ok) else float("nan"),
                   decode_s=ok["decode_s"].mean() if len(ok) else float("nan"),
                   target_missed=_target_missed(ok["detail"]) if pd.notna(g["target_bpp"].iloc[0]) else 0)
        for c in mcols:
            row[c] = ok[c].mean() if len(ok) else float("nan")
            if (metric_metadata(split_column(c)[1]) or {}).get("from_mean_mse"):
                row[c + MSE_SUFFIX] = _psnr_of_mean_mse(ok[c])
        rows.append(row)
    points = pd.DataFrame(rows)
    dm = store.dataset_metrics_frame()
    if len(dm):
        dm = dm[dm["value"].notna()]
        wide = dm.pivot_table(index=GROUP, columns="metric", values="value", aggfunc="first").reset_index()
        wide.columns.name = None
        counts = dm.assign(n=[patch_count(d) for d in dm["detail"]]) if "detail" in dm else dm.assign(n=math.nan)
        if counts["n"].notna().any():
            n_wide = counts.pivot_table(index=GROUP, columns="metric", values="n", aggfunc="min")
            n_wide.columns = [f"{c}{PATCHES_SUFFIX}" for c in n_wide.columns]
            wide = wide.merge(n_wide.reset_index(), on=GROUP, how="left")
        points = points.merge(wide, on=GROUP, how="left")
    sort_rate = points["rate"].where(points["target_bpp"].isna(), points["target_bpp"])
    return points.assign(_r=sort_rate).sort_values(["dataset", "codec", "mask_set", "_r"]).drop(columns="_r") \
        .reset_index(drop=True)
