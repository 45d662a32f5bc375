"""Print how a `bench train` run's loss moved: per stage, the mean of each logged term over
the first and the last tenth of its steps, and the wall time.

    python scripts/train_summary.py RUN_DIR
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def main(folder: str) -> None:
    run = Path(folder)
    meta = json.loads((run / "config.json").read_text())
    with (run / "loss.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    print(f"{run}: {meta['codec']}, step {meta['step']} of {meta['total_steps']}, data {meta['data']}, "
          f"{rows[-1]['seconds'] if rows else 0} s in the last (resumed) session")
    stages: dict[str, list[dict]] = {}
    for r in rows:
        stages.setdefault(r["stage"], []).append(r)
    for name, rs in stages.items():
        tenth = max(1, len(rs) // 10)
        terms = [k for k in rs[0] if k not in ("step", "stage", "lr", "seconds") and rs[0][k] not in ("", None)]

        def mean(chunk, k):
            vals = [float(r[k]) for r in chunk if r.get(k) not in ("", None)]
            return sum(vals) / len(vals) if vals else float("nan")
        shown = "; ".join(f"{k} {mean(rs[:tenth], k):.4g} -> {mean(rs[-tenth:], k):.4g}" for k in terms)
        print(f"  {name} ({len(rs)} steps, first tenth -> last tenth): {shown}")


if __name__ == "__main__":
    main(sys.argv[1])
