"""Finding and reading protocols/<name>.toml, checked against the suite's registries.

Every name a protocol uses (codec, metric, dataset, mask set, entry id) is checked when it
is loaded, so a typo is one line naming the file and the thing, not a failure an hour
into a run. Unknown keys are errors too: a misspelt `metric =` would otherwise be ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib

from ..errors import BenchError, unknown_name
from ..paths import PROJECT_ROOT
from .model import CodecEntry, Figure, Protocol, RunGroup, Table

PROTOCOLS_DIR = PROJECT_ROOT / "protocols"
TOP_KEYS = {"name", "title", "paper", "notes", "dataset_labels", "codecs", "runs", "figures", "tables"}
REGIONS = ("full", "roi", "bg")
LINE_STYLES = ("-", "--", ":", "-.")


def protocol_names(folder: Path = PROTOCOLS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(folder).glob("*.toml"))


def find_protocol(spec: str, folder: Path = PROTOCOLS_DIR) -> Path:
    """A name under protocols/ or a path to a .toml file."""
    path = Path(spec).expanduser()
    if path.suffix == ".toml" and path.is_file():
        return path
    named = Path(folder) / f"{spec}.toml"
    if named.is_file():
        return named
    raise unknown_name("protocol", spec, protocol_names(folder),
                       f"Give a name under {folder}/ or the path of a protocol .toml file.")


class _Reader:
    """Typed access to one TOML table, with errors that name the file and the key."""

    def __init__(self, path: Path, where: str, data: Any, allowed: set[str]):
        if not isinstance(data, dict):
            raise BenchError(f"protocol {path}: {where} must be a table")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise BenchError(f"protocol {path}: {where} has unknown key '{unknown[0]}'; "
                             f"allowed: {', '.join(sorted(allowed))}")
        self.path, self.where, self.data = path, where, data

    def fail(self, msg: str) -> BenchError:
        return BenchError(f"protocol {self.path}: {self.where}: {msg}")

    def str(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"'{key}' must be a string" if key in self.data else f"'{key}' is required")
        return value

    def strs(self, key: str, default: tuple = ()) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"'{key}' must be a list of strings")
        return tuple(value)

    def number(self, key: str, default: float) -> Any:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"'{key}' must be a number")
        return value


def _entries(path: Path, raw: list) -> tuple[CodecEntry, ...]:
    from ..codec import CODECS
    out: list[CodecEntry] = []
    for i, item in enumerate(raw):
        r = _Reader(path, f"codecs[{i}]", item, {"id", "codec", "options", "rates", "label", "model", "requires",
                                                  "line", "marker", "colour", "note"})
        codec = r.str("codec")
        try:
            CODECS.entry(codec)
        except BenchError as exc:
            raise r.fail(str(exc)) from None
        rates = item.get("rates", [])
        if not isinstance(rates, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in rates):
            raise r.fail("'rates' must be a list of numbers in the codec's knob")
        requires = item.get("requires", {})
        if not isinstance(requires, dict) or not all(isinstance(v, str) for v in requires.values()):
            raise r.fail("'requires' must be a table option = \"how to get it\"")
        line = r.str("line", "-")
        if line not in LINE_STYLES:
            raise r.fail(f"line '{line}' is not one of {', '.join(LINE_STYLES)}")
        out.append(CodecEntry(id=r.str("id", codec), codec=codec, options=r.str("options", ""),
                              rates=tuple(float(v) for v in rates), label=r.str("label", ""),
                              model=r.str("model", ""), requires=dict(requires), line=line,
                              marker=r.str("marker", "o"), colour=r.str("colour", ""), note=r.str("note", "")))
    ids = [e.id for e in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise BenchError(f"protocol {path}: codec entry id '{dup[0]}' is used twice; give each entry its own id")
    for e in out:
        if e.model and e.model not in ids:
            raise BenchError(f"protocol {path}: codec entry '{e.id}' has model = '{e.model}', which is no entry id")
    return tuple(out)


def _check_ids(r: _Reader, key: str, ids: tuple[str, ...], known: list[str]) -> None:
    for i in ids:
        if i not in known:
            raise r.fail(str(unknown_name(f"codec entry in '{key}'", i, known, "Use an `id` of a [[codecs]] entry.")))


def _check_metrics(r: _Reader, metrics: tuple[str, ...]) -> None:
    from ..metrics import METRICS
    if not metrics:
        raise r.fail("'metrics' must name at least one metric")
    for m in metrics:
        try:
            METRICS.entry(m)
        except BenchError as exc:
            raise r.fail(str(exc)) from None


def _check_dataset(r: _Reader, name: str, manifests: dict) -> None:
    if name not in manifests:
        raise r.fail(str(unknown_name("dataset", name, manifests, "Add datasets/<name>.toml or fix the name.")))


def _check_masks(r: _Reader, masks: str) -> None:
    if masks:
        from ..masks.pairing import mask_set_dir
        try:
            mask_set_dir(masks)
        except BenchError as exc:
            raise r.fail(str(exc)) from None


def load_protocol(spec: str | Path) -> Protocol:
    from ..datasets import load_manifests
    path = find_protocol(str(spec))
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"protocol {path} is not valid TOML: {exc}") from None
    top = _Reader(path, "top level", data, TOP_KEYS)
    manifests = load_manifests()
    entries = _entries(path, data.get("codecs", []))
    ids = [e.id for e in entries]
    if not entries:
        raise top.fail("no [[codecs]] entries")

    runs = []
    for i, item in enumerate(data.get("runs", [])):
        r = _Reader(path, f"runs[{i}]", item, {"dataset", "metrics", "codecs", "masks"})
        group = RunGroup(dataset=r.str("dataset"), metrics=r.strs("metrics"), codecs=r.strs("codecs", tuple(ids)),
                         masks=r.str("masks", ""))
        _check_dataset(r, group.dataset, manifests)
        _check_metrics(r, group.metrics)
        _check_ids(r, "codecs", group.codecs, ids)
        _check_masks(r, group.masks)
        runs.append(group)
    if not runs:
        raise top.fail("no [[runs]] entries (dataset, metrics, codecs)")
    run_keys = {(g.dataset, g.masks) for g in runs}

    figures = []
    for i, item in enumerate(data.get("figures", [])):
        r = _Reader(path, f"figures[{i}]", item, {"id", "caption", "datasets", "metrics", "masks", "regions",
                                                   "codecs", "columns", "log_x"})
        fig = Figure(id=r.str("id"), caption=r.str("caption", ""), datasets=r.strs("datasets"),
                     metrics=r.strs("metrics"), masks=r.str("masks", ""), regions=r.strs("regions", ("full",)),
                     codecs=r.strs("codecs"), columns=int(r.number("columns", 0)), log_x=bool(item.get("log_x", False)))
        _check_metrics(r, fig.metrics)
        _check_ids(r, "codecs", fig.codecs, ids)
        bad = [x for x in fig.regions if x not in REGIONS]
        if bad:
            raise r.fail(f"region '{bad[0]}' is not one of {', '.join(REGIONS)}")
        if set(fig.regions) - {"full"} and not fig.masks:
            raise r.fail("roi/bg regions need 'masks' (the run group whose mask set gives those columns)")
        for d in fig.datasets:
            if (d, fig.masks) not in run_keys:
                raise r.fail(f"dataset '{d}'" + (f" with masks '{fig.masks}'" if fig.masks else "")
                             + " is in no [[runs]] entry; add the run or fix the figure")
        figures.append(fig)

    tables = []
    for i, item in enumerate(data.get("tables", [])):
        r = _Reader(path, f"tables[{i}]", item, {"id", "caption", "datasets", "metrics", "anchor", "masks",
                                                  "codecs", "kind", "method"})
        table = Table(id=r.str("id"), caption=r.str("caption", ""), datasets=r.strs("datasets"),
                      metrics=r.strs("metrics"), anchor=r.strs("anchor"), masks=r.str("masks", ""),
                      codecs=r.strs("codecs"), kind=r.str("kind", "rate"), method=r.str("method", "pchip"))
        _check_metrics(r, table.metrics)
        _check_ids(r, "codecs", table.codecs, ids)
        if not table.anchor:
            raise r.fail("'anchor' must name at least one codec entry id")
        _check_ids(r, "anchor", table.anchor, ids)
        if table.kind not in ("rate", "metric"):
            raise r.fail(f"kind '{table.kind}' is not rate or metric")
        from ..analysis import bdrate
        if table.method not in bdrate.METHODS:
            raise r.fail(f"method '{table.method}' is not one of {', '.join(bdrate.METHODS)}")
        for d in table.datasets:
            if (d, table.masks) not in run_keys:
                raise r.fail(f"dataset '{d}' is in no [[runs]] entry with masks '{table.masks}'")
        tables.append(table)

    labels = data.get("dataset_labels", {})
    if not isinstance(labels, dict):
        raise top.fail("'dataset_labels' must be a table dataset = \"label\"")
    return Protocol(name=top.str("name", path.stem), title=top.str("title", path.stem), paper=top.str("paper", ""),
                    path=path, codecs=entries, runs=tuple(runs), figures=tuple(figures), tables=tuple(tables),
                    dataset_labels=dict(labels), notes=top.strs("notes"))
