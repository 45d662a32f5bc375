"""What produced the numbers in a report: codec configurations and versions, metric
versions and weights, datasets (image pixel hashes, mask sets), runs and machines, and
the sources of imported reference curves. All read from the store."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from ..analysis.references import reference_sources


def _when(ts) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _compact(value) -> str:
    if value in (None, "", {}, []):
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact(v) if isinstance(v, (dict, list)) else v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _loads(text) -> dict:
    try:
        out = json.loads(text) if isinstance(text, str) else (text or {})
        return out if isinstance(out, dict) else {"value": out}
    except json.JSONDecodeError:
        return {"raw": text}


def runs(store) -> list[dict]:
    out = []
    for r in store.runs():
        env = _loads(r.get("environment"))
        try:
            argv = json.loads(r.get("argv") or "[]")
        except json.JSONDecodeError:
            argv = [r.get("argv")]
        out.append({"run_id": r["run_id"], "started": _when(r.get("started")), "finished": _when(r.get("finished")),
                    "command": " ".join(str(a) for a in argv) if isinstance(argv, list) else str(argv),
                    "machine": _compact(env.get("machine")), "project_commit": env.get("project_commit") or "",
                    "libraries": _compact(env.get("libraries"))})
    return out


def codecs(store, points: pd.DataFrame) -> list[dict]:
    configs = store.codec_configs()
    seen = points[~points["reference"]][["label", "codec", "config_hash"]].drop_duplicates()
    out = []
    for label, codec, h in seen.itertuples(index=False):
        d = configs.get(h, {})
        extra = {k: v for k, v in d.items() if k not in ("name", "class", "rate_param", "options", "versions",
                                                           "bpp_source")}
        out.append({"label": label, "codec": codec, "config_hash": h, "class": d.get("class", ""),
                    "rate_param": d.get("rate_param", ""), "options": _compact(d.get("options")),
                    "versions": _compact(d.get("versions")), "bpp_source": d.get("bpp_source", ""),
                    "other": _compact(extra)})
    return sorted(out, key=lambda r: r["label"])


def metrics(store, columns: list[str], meta) -> list[dict]:
    info = store.metric_info()
    out = []
    for c in columns:
        m = meta(c)
        stored = info.get(c, {})
        stored_meta = stored.get("metadata") or {}
        note = (stored_meta.get("mask_note") or m.get("mask_note", "")) if m.get("region") != "full" else ""
        versions = stored.get("versions") or {}
        # the metric stage records each weight file's sha256 as "weights:<name>" next to library versions
        weights = {k.split(":", 1)[1]: v for k, v in versions.items() if k.startswith("weights:")}
        libs = {k: v for k, v in versions.items() if not k.startswith("weights:")}
        out.append({"column": c, "label": m.get("label", c), "kind": m.get("kind", ""),
                    "direction": "higher" if m.get("higher_is_better", True) else "lower",
                    "versions": _compact(libs),
                    "weights": _compact(weights or stored_meta.get("weights") or m.get("weights")), "note": note})
    return out


def datasets(jobs: pd.DataFrame) -> list[dict]:
    out = []
    for name, g in jobs.groupby("dataset", sort=True):
        images = g[["image", "image_hash", "height", "width"]].sort_values(["image", "image_hash"]) \
            .drop_duplicates("image").sort_values("image")
        masks = g.dropna(subset=["mask_set"])
        mask_sets = {s: int(m["mask_hash"].nunique()) for s, m in masks.groupby("mask_set") if s}
        out.append({"name": name, "n_images": len(images),
                    "images": [{"image": i, "hash": h if isinstance(h, str) else "",
                                "size": f"{int(w)}x{int(hh)}" if pd.notna(w) and pd.notna(hh) else ""}
                               for i, h, hh, w in images.itertuples(index=False)],
                    "mask_sets": _compact(mask_sets),
                    "n_jobs": len(g), "n_errors": int((g["status"] != "ok").sum())})
    return out


def references(store) -> list[dict]:
    return [{**r, "imported": _when(r.get("imported"))} for r in reference_sources(store)]


def errors(jobs: pd.DataFrame, limit: int = 20) -> list[dict]:
    bad = jobs[jobs["status"] != "ok"]
    return [{"codec": r.codec, "setting": r.setting, "image": r.image, "error": str(r.error)[:300]}
            for r in bad.head(limit).itertuples(index=False)]
