"""Export formats of stored results: per-image rows (CSV, Parquet) and per-rate curves in
CompressAI's results-file shape (JSON).

The JSON's results.bpp is the mean of per-image bpp, as CompressAI's files have it; corpus
bpp (CLIC: total bits / total pixels) goes beside `results`, not in it, so the file still
reads back (`bench import`) as a curve whose metrics are only the metric lists."""

from __future__ import annotations

import pandas as pd

from ..store.schema import EXPORT_COLUMNS
from .rd_points import (
    BPP_LABELS,
    PATCHES_SUFFIX,
    metric_columns,
    unstable_note,
    unstable_patches,
)

# CompressAI's result files name RGB metrics with an "-rgb" suffix.
COMPRESSAI_NAMES = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}


def per_image_frame(store, dataset=None, codecs=None) -> pd.DataFrame:
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
        entry = {"name": codec, "description": f"bench results on {dataset}" +
                 (f" with ROI masks {mask_set}" if mask_set else ""),
                 "dataset": dataset, g["rate_param"].iloc[0]: g["rate"].tolist(), "results": res}
        if "bpp_corpus" in g:
            entry["bpp_corpus"] = g["bpp_corpus"].tolist()
            entry["bpp_definitions"] = {"results.bpp": BPP_LABELS["bpp"], "bpp_corpus": BPP_LABELS["bpp_corpus"]}
        notes = [unstable_note(c.removesuffix(PATCHES_SUFFIX), n) for c in g.columns if c.endswith(PATCHES_SUFFIX)
                 for n in sorted({int(n) for n in g[c] if unstable_patches(n)})]
        if notes:
            entry["notes"] = notes
        out.append(entry)
    return out
