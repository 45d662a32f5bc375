"""What a protocol run leaves next to the results (OUT/protocols/<name>.json): which codec
config (hash) each entry ran as, and what was missing. The report needs the first to put
the paper's names on curves (two entries may be one codec with different checkpoints) and
shows the second. Later runs merge in: a thing missing before and run now is cleared."""

from __future__ import annotations

import json
from pathlib import Path

from ..image import atomic_write
from .plan import Plan

RECORD_DIR = "protocols"


def record_path(out: Path, name: str) -> Path:
    return Path(out) / RECORD_DIR / f"{name}.json"


def read_record(out: Path, name: str) -> dict:
    path = record_path(out, name)
    if not path.is_file():
        return {"protocol": name, "entries": {}, "missing": {}, "runs": []}
    return json.loads(path.read_text())


def write_record(out: Path, plan: Plan, runs: list[dict], failed_calls: dict[str, str]) -> Path:
    rec = read_record(out, plan.protocol.name)
    for entry_id, h in plan.config_hashes.items():
        hashes = rec["entries"].setdefault(entry_id, [])
        if h not in hashes:
            hashes.append(h)
    ran = {f"codec:{i}" for i in plan.specs} | {f"dataset:{c.group.dataset}" for c in plan.calls} | \
          {f"metric:{m}" for c in plan.calls for m in c.metrics}
    rec["missing"] = {k: v for k, v in rec["missing"].items() if k not in ran}
    rec["missing"].update({m.key: m.line for m in plan.missing})
    rec["missing"].update(failed_calls)
    rec["runs"] = rec.get("runs", []) + runs
    rec["file"] = str(plan.protocol.path)
    path = record_path(out, plan.protocol.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(rec, indent=1).encode())
    path.chmod(0o644)
    return path
