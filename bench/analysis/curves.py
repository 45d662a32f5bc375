"""RD curves from stored results: aggregated RD points (bench.analysis.rd_points) plus
imported reference curves, grouped into one curve per (dataset, codec config, mask set,
metric column), with display labels that tell configurations of one codec apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import BenchError

# Columns this module adds to rd_points rows (rd_points knows the rest).
ADDED_FIELDS = {"label", "reference"}
REGION_PREFIXES = {"roi": "roi-", "bg": "bg-"}


@dataclass(frozen=True)
class Curve:
    dataset: str
    codec: str
    label: str
    config_hash: str
    mask_set: str
    column: str
    bpp: np.ndarray
    value: np.ndarray
    settings: tuple[str, ...]
    bpp_source: str            # measured | estimated | reference | mixed
    reference: bool

    @property
    def estimated(self) -> bool:
        return self.bpp_source in ("estimated", "mixed")


def load_points(store, dataset: str | None = None, codecs: list[str] | None = None,
                references: bool = True) -> pd.DataFrame:
    """Run RD points plus reference curves, with `label` and `reference` columns."""
    from .rd_points import rd_points
    from .references import reference_points
    runs = rd_points(store, dataset=dataset, codecs=codecs)
    runs = runs.assign(reference=False)
    frames = [runs]
    if references:
        refs = reference_points(store, dataset=dataset, names=codecs)
        if len(refs):
            frames.append(refs.assign(reference=True))
    points = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else runs
    if points.empty:
        where = f" for dataset '{dataset}'" if dataset else ""
        which = f" and codecs {','.join(codecs)}" if codecs else ""
        raise BenchError(f"no results in {store.root}{where}{which}; run `bench run --out {store.root}` "
                         "or `bench import FILE --out ...` first")
    points["mask_set"] = points["mask_set"].fillna("")
    return add_labels(points, store.codec_configs())


def add_labels(points: pd.DataFrame, configs: dict[str, dict] | None = None) -> pd.DataFrame:
    """`label`: the codec name, plus its options (or config hash) when one dataset holds
    several configurations of the same codec; reference curves get a "(ref)" suffix
    only when their name collides with a run codec."""
    configs = configs or {}
    points = points.copy()
    if "reference" not in points:
        points["reference"] = False
    points["reference"] = points["reference"].fillna(False).astype(bool)
    labels = {}
    for (dataset, codec), g in points.groupby(["dataset", "codec"], sort=False):
        hashes = list(dict.fromkeys(g["config_hash"]))
        for h in hashes:
            label = codec
            if len(hashes) > 1:
                opts = (configs.get(h) or {}).get("options") or {}
                label = f"{codec}:{','.join(f'{k}={v}' for k, v in sorted(opts.items()))}" if opts else f"{codec}@{h[:8]}"
            labels[(dataset, codec, h)] = label
    points["label"] = [labels[(d, c, h)] for d, c, h in zip(points["dataset"], points["codec"], points["config_hash"])]
    run_labels = set(points.loc[~points["reference"], "label"])
    points.loc[points["reference"] & points["label"].isin(run_labels), "label"] += " (ref)"
    return points


def metric_columns(points: pd.DataFrame) -> list[str]:
    """Quality columns with at least one finite value, in first-seen order."""
    from .rd_points import metric_columns as quality_columns
    out = []
    for c in quality_columns(points):
        if c in ADDED_FIELDS or c.startswith("_"):
            continue
        vals = pd.to_numeric(points[c], errors="coerce")
        if np.isfinite(vals.to_numpy(dtype=float)).any():
            out.append(c)
    return out


def region_of(column: str) -> tuple[str, str]:
    """'roi-lpips' -> ('roi', 'lpips'); 'psnr_mse' -> ('full', 'psnr_mse')."""
    for region, prefix in REGION_PREFIXES.items():
        if column.startswith(prefix):
            return region, column[len(prefix):]
    return "full", column


def column_meta(store, column: str) -> dict:
    """Direction and label of a metric column (bench.analysis.rd_points.metric_meta, registry-backed)."""
    from .rd_points import metric_meta
    return metric_meta(store, column)


def _source(values: pd.Series) -> str:
    kinds = set(values.dropna())
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "measured")


def curves(points: pd.DataFrame, column: str, dataset: str | None = None, mask_set: str | None = None) -> list[Curve]:
    """One curve per (dataset, codec config, mask set) with finite values of `column`, by bpp."""
    if column not in points:
        return []
    sel = points
    if dataset is not None:
        sel = sel[sel["dataset"] == dataset]
    if mask_set is not None:
        sel = sel[sel["mask_set"] == mask_set]
    out = []
    for (ds, label, h, ms), g in sel.groupby(["dataset", "label", "config_hash", "mask_set"], sort=False):
        vals = pd.to_numeric(g[column], errors="coerce").to_numpy(dtype=float)
        bpp = pd.to_numeric(g["bpp"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(vals) & np.isfinite(bpp)
        if not ok.any():
            continue
        order = np.argsort(bpp[ok], kind="stable")
        out.append(Curve(dataset=ds, codec=str(g["codec"].iloc[0]), label=label, config_hash=h, mask_set=ms,
                         column=column, bpp=bpp[ok][order], value=vals[ok][order],
                         settings=tuple(np.asarray(g["setting"].astype(str))[ok][order]),
                         bpp_source=_source(g["bpp_source"]), reference=bool(g["reference"].iloc[0])))
    return out


def find_curve(found: list[Curve], name: str) -> Curve | None:
    """A curve by label, or by codec name when that codec has one configuration."""
    by_label = [c for c in found if c.label == name]
    if by_label:
        return by_label[0]
    by_codec = [c for c in found if c.codec == name]
    if len({c.label for c in by_codec}) > 1:
        raise BenchError(f"'{name}' names several configurations: {', '.join(sorted({c.label for c in by_codec}))}; "
                         "pass one of these labels")
    return by_codec[0] if by_codec else None


def datasets_and_mask_sets(points: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = points[["dataset", "mask_set"]].drop_duplicates()
    return sorted(((str(d), str(m)) for d, m in pairs.itertuples(index=False)), key=lambda p: (p[0], p[1] != "", p[1]))

