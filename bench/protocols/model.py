"""The parts of a paper protocol, as read from protocols/<name>.toml (see loader.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CodecEntry:
    """One curve of the paper: a registered codec with fixed options and rate points."""
    id: str                          # the key of --codec-option ID:key=value and of figures/tables
    codec: str                       # registry name (bench list codecs)
    options: str = ""                # "key=value,..." the paper fixes (sampler=repaint, ...)
    rates: tuple[float, ...] = ()    # in the codec's own knob; empty = the codec's default sweep
    label: str = ""                  # the paper's legend name
    model: str = ""                  # entry id whose trained model this entry decodes with (its options apply)
    requires: dict[str, str] = field(default_factory=dict)   # option -> how to get it (e.g. checkpoint)
    line: str = "-"                  # matplotlib line style of the full-image curve
    marker: str = "o"
    colour: str = ""                 # empty: tab10 by entry order
    note: str = ""                   # a substitution or caveat, shown in the report

    @property
    def legend(self) -> str:
        return self.label or self.id

    @property
    def model_id(self) -> str:
        return self.model or self.id


@dataclass(frozen=True)
class RunGroup:
    """One dataset (with or without a mask set) and what the paper measures on it."""
    dataset: str
    metrics: tuple[str, ...]
    codecs: tuple[str, ...]          # entry ids
    masks: str = ""                  # a mask set under masks/ ("" = full image only)

    @property
    def key(self) -> str:
        return self.dataset + (f" + masks {self.masks}" if self.masks else "")


@dataclass(frozen=True)
class Figure:
    """A grid of RD panels: one row per dataset, one column per metric (or wrapped at `columns`)."""
    id: str
    caption: str
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]         # base metric names; regions add roi-/bg- curves to a panel
    masks: str = ""                  # whose points: the run group with this mask set
    regions: tuple[str, ...] = ("full",)
    codecs: tuple[str, ...] = ()     # entry ids; empty = every entry run on the dataset
    columns: int = 0                 # 0: one column per metric
    log_x: bool = False


@dataclass(frozen=True)
class Table:
    """A BD table: BD-rate (or BD-metric) of each entry against the first anchor that has results."""
    id: str
    caption: str
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]
    anchor: tuple[str, ...]          # entry ids in order of preference (the paper's anchor first)
    masks: str = ""
    codecs: tuple[str, ...] = ()
    kind: str = "rate"               # rate | metric
    method: str = "pchip"


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    paper: str
    path: Path
    codecs: tuple[CodecEntry, ...]
    runs: tuple[RunGroup, ...]
    figures: tuple[Figure, ...]
    tables: tuple[Table, ...]
    dataset_labels: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def entry(self, entry_id: str) -> CodecEntry:
        for e in self.codecs:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)

    def dataset_label(self, dataset: str) -> str:
        return self.dataset_labels.get(dataset, dataset)
