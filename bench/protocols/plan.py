"""What of a protocol can run here: pipeline calls for what is present, and one line per
missing thing (dataset, codec, metric) naming it and its fix. Nothing runs here; the
checks are the ones `bench run` would make, done up front so the rest can still run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BenchError
from .model import CodecEntry, Protocol, RunGroup
from .options import codec_spec, entry_options


@dataclass(frozen=True)
class Missing:
    kind: str          # dataset | codec | metric
    name: str
    line: str          # "<thing> <why>: <fix>"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass
class Call:
    """One `bench.pipeline.run` call: a run group's codecs that share a rate list."""
    group: RunGroup
    dataset: str                     # the dataset name, or a --limit-images subset folder
    entries: list[str]
    specs: list[str]
    rates: list[float]
    metrics: list[str]


@dataclass
class Plan:
    protocol: Protocol
    calls: list[Call] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    config_hashes: dict[str, str] = field(default_factory=dict)   # entry id -> codec config hash
    specs: dict[str, str] = field(default_factory=dict)           # entry id -> codec spec

    def add_missing(self, m: Missing) -> None:
        if m.key not in {x.key for x in self.missing}:
            self.missing.append(m)


@dataclass
class Filters:
    """--dataset/--codecs/--metrics with --protocol: run only this part of the protocol."""
    datasets: list[str] = field(default_factory=list)
    codecs: list[str] = field(default_factory=list)    # entry ids or codec names
    metrics: list[str] = field(default_factory=list)

    def check(self, p: Protocol) -> None:
        known = {"--dataset": {g.dataset for g in p.runs}, "--codecs": {e.id for e in p.codecs} | {e.codec for e in p.codecs},
                 "--metrics": {m for g in p.runs for m in g.metrics}}
        for flag, given in (("--dataset", self.datasets), ("--codecs", self.codecs), ("--metrics", self.metrics)):
            bad = [v for v in given if v not in known[flag]]
            if bad:
                raise BenchError(f"{flag} {bad[0]} is not part of protocol '{p.name}'; it has: "
                                 f"{', '.join(sorted(known[flag]))}")

    def entry(self, e: CodecEntry) -> bool:
        return not self.codecs or e.id in self.codecs or e.codec in self.codecs


def dataset_missing(name: str, exc: BenchError) -> Missing:
    from ..paths import data_root
    folder = data_root() / name
    if not folder.is_dir() or not any(folder.iterdir()):
        return Missing("dataset", name, f"dataset {name} not downloaded: bench datasets download {name} "
                                        f"(or set BENCH_DATA to the folder holding {name}/; looked in {data_root()})")
    return Missing("dataset", name, f"dataset {name} not usable: {exc}")


def _check_entry(e: CodecEntry, user: dict[str, dict], codec_paths: list[str], plan: Plan) -> None:
    """Build the entry's codec (not its model) and ask it whether it can run here."""
    from ..codec import make_codec
    options, user_given = entry_options(e, user)
    for key, hint in e.requires.items():
        if key not in options:
            placeholder, _, how = hint.partition(": ")
            plan.add_missing(Missing("codec", e.id, f"codec {e.id} needs {key}={placeholder}: pass --codec-option "
                                                     f"{e.model_id}:{key}={placeholder}" + (f" ({how})" if how else "")))
            return
    spec = codec_spec(e.codec, options)
    try:
        codec = make_codec(spec, codec_paths, check_available=False)
        why = codec.unavailable_here() or codec.unavailable_at(list(e.rates) or list(codec.default_rates))
        if e.rates:
            for r in e.rates:
                codec.check_rate(r)
    except BenchError as exc:
        if user_given:       # the user's own --codec-option is wrong: stop rather than run without it
            raise BenchError(f"codec entry {e.id} ({spec}): {exc}") from None
        why = str(exc)
    if why:
        plan.add_missing(Missing("codec", e.id, f"codec {e.id} not available here: {why}"))
        return
    plan.specs[e.id] = spec
    plan.config_hashes[e.id] = codec.config_hash()


def make_plan(protocol: Protocol, user_options: dict[str, dict], filters: Filters | None = None,
              codec_paths: list[str] | None = None, limit_images: int | None = None,
              out: Path | None = None) -> Plan:
    from ..datasets import resolve_dataset
    from ..metrics import METRICS
    from .subset import subset_folder

    filters = filters or Filters()
    filters.check(protocol)
    plan = Plan(protocol)
    checked: set[str] = set()
    metric_ok: dict[str, bool] = {}
    for group in protocol.runs:
        if filters.datasets and group.dataset not in filters.datasets:
            continue
        entries = [protocol.entry(i) for i in group.codecs if filters.entry(protocol.entry(i))]
        metrics = [m for m in group.metrics if not filters.metrics or m in filters.metrics]
        if not entries:
            continue
        for e in entries:
            if e.id not in checked:
                checked.add(e.id)
                _check_entry(e, user_options, list(codec_paths or []), plan)
        for m in metrics:
            if m not in metric_ok:
                why = METRICS.load(m).unavailable()
                metric_ok[m] = not why
                if why:
                    plan.add_missing(Missing("metric", m, f"metric {m} not available here: {why}"))
        try:
            dataset = resolve_dataset(group.dataset)
        except BenchError as exc:
            plan.add_missing(dataset_missing(group.dataset, exc))
            continue
        where = str(subset_folder(dataset, limit_images, out)) if limit_images else group.dataset
        runnable = [e for e in entries if e.id in plan.specs]
        by_rates: dict[tuple, list[CodecEntry]] = {}
        for e in runnable:
            by_rates.setdefault(e.rates, []).append(e)
        for rates, es in by_rates.items():
            plan.calls.append(Call(group, where, [e.id for e in es], [plan.specs[e.id] for e in es], list(rates),
                                   [m for m in metrics if metric_ok[m]]))
    return plan
