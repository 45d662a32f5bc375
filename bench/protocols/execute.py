"""`bench run --protocol`: the plan's calls through the ordinary run pipeline, one store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from ..errors import BenchError
from .plan import Plan
from .record import write_record


@dataclass
class ProtocolRunOptions:
    out: Path
    workers: int = 2
    device: str = "cpu"
    verify_decode: bool = False
    codec_paths: list[str] = field(default_factory=list)
    batch_size: int | None = None


@dataclass
class ProtocolRunResult:
    reports: list = field(default_factory=list)       # RunReport per call
    failed_calls: dict[str, str] = field(default_factory=dict)
    record: Path | None = None

    @property
    def failed_jobs(self) -> int:
        return sum(r.failed for r in self.reports)


def print_missing(plan: Plan, console: Console) -> None:
    if plan.missing:
        console.print(f"[yellow]not run here ({len(plan.missing)}):[/]")
        for m in plan.missing:
            console.print(f"  [yellow]missing[/] {m.line}", soft_wrap=True)


def print_plan(plan: Plan, console: Console) -> None:
    for c in plan.calls:
        rates = ",".join(f"{r:g}" for r in c.rates) or "default rates"
        console.print(f"  run {c.group.key}: {', '.join(c.entries)} at {rates}; metrics {', '.join(c.metrics) or '-'}",
                      soft_wrap=True)


def run_protocol(plan: Plan, o: ProtocolRunOptions, console: Console) -> ProtocolRunResult:
    from ..pipeline.run import RunOptions
    from ..pipeline.run import run as run_pipeline
    result = ProtocolRunResult()
    console.print(f"protocol [bold]{plan.protocol.name}[/] ({plan.protocol.title}): {len(plan.calls)} run(s) -> {o.out}")
    print_missing(plan, console)
    if not plan.calls:
        write_record(o.out, plan, [], {})
        raise BenchError(f"nothing of protocol '{plan.protocol.name}' can run here; see the missing lines above")
    runs = []
    from ..store import Store
    store = Store(o.out)        # checks the folder once; the lock keeps other writers out between groups
    try:
        with store.writer_lock():
            for c in plan.calls:
                opts = RunOptions(dataset=c.dataset, codecs=list(c.specs), rates=list(c.rates), metrics=list(c.metrics),
                                  out=Path(o.out), workers=o.workers, device=o.device, verify_decode=o.verify_decode,
                                  roi_masks=c.group.masks or None, codec_paths=list(o.codec_paths), batch_size=o.batch_size)
                try:
                    report = run_pipeline(opts, console)
                except BenchError as exc:          # one group failing (e.g. a mask set that does not fit) stops only it
                    key = f"run:{c.group.key}:{','.join(c.entries)}"
                    result.failed_calls[key] = f"run {c.group.key} ({', '.join(c.entries)}) failed: {exc}"
                    console.print(f"[red]failed[/] {result.failed_calls[key]}", soft_wrap=True)
                    continue
                result.reports.append(report)
                for name, reason in report.missing_metrics.items():   # a metric that failed to start after the plan's check
                    result.failed_calls[f"metric:{name}"] = f"metric {name} could not run: {reason}"
                    console.print(f"[red]failed[/] metric {name} could not run: {reason}", soft_wrap=True)
                for label, error in report.errors[:5]:
                    console.print(f"[red]failed[/] {label}: {error}", soft_wrap=True)
                runs.append({"run_id": report.run_id, "dataset": c.group.dataset, "masks": c.group.masks,
                             "entries": c.entries, "metrics": c.metrics, "done": report.done, "failed": report.failed,
                             "reused": report.skipped, "images_limited_to": c.dataset if c.dataset != c.group.dataset else ""})
    finally:
        store.close()
    result.record = write_record(o.out, plan, runs, result.failed_calls)
    return result


def print_summary(plan: Plan, result: ProtocolRunResult, console: Console) -> None:
    """At the end, where it is read: what ran, and again what did not."""
    done = sum(r.done for r in result.reports)
    reused = sum(r.skipped for r in result.reports)
    console.print(f"protocol {plan.protocol.name}: {len(result.reports)} run(s), {done} jobs done, "
                  f"{result.failed_jobs} failed, {reused} reused; not run here: {len(plan.missing) + len(result.failed_calls)}")
    print_missing(plan, console)
    console.print(f"next: bench report --protocol {plan.protocol.name} --out {plan_out(result)}")


def plan_out(result: ProtocolRunResult) -> str:
    return str(result.record.parent.parent) if result.record else "OUT"
