"""Comparing saved conformance runs check by check; the first run is the baseline.

Per check id: *newly failing* (failed now, not failed in the baseline, including a check the
baseline did not run) is a regression; *fixed* is failed in the baseline and passed now; any
other difference of status is a *change*. Capability changes are listed per run against the
baseline: each feature whose state differs (``supported -> ignored``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chatgauge.reports._charts import StatusBars, status_bars
from chatgauge.reports._jinja import render
from chatgauge.results._capability_rows import capability_changes
from chatgauge.results.conformance import CheckResult, ConformanceRun, group_title


@dataclass(frozen=True)
class CheckRow:
    """One check across runs: its status and message in each (``None``: not run).

    ``changes[i]`` compares run ``i`` with the baseline: ``baseline`` (i = 0),
    ``newly failing``, ``fixed``, ``changed`` or ``same``.
    """

    id: str
    title: str
    group: str
    statuses: tuple[str | None, ...]
    messages: tuple[str, ...]
    changes: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """Whether any run differs from the baseline on this check."""
        return any(c not in ("baseline", "same") for c in self.changes)


@dataclass(frozen=True)
class ComparedRun:
    """The identity, status and verdict counts of one compared conformance run."""

    label: str
    endpoint: str
    model: str
    started_at: str
    status: str
    summary: Mapping[str, int]


@dataclass(frozen=True)
class ConformanceComparison:
    """Conformance runs side by side; ``runs[0]`` is the baseline."""

    runs: tuple[ComparedRun, ...]
    rows: tuple[CheckRow, ...]
    capability_changes: tuple[tuple[int, str, str, str], ...] = ()
    """Per run index (1..): ``(index, feature, state in the baseline, state in that run)``."""

    def with_change(self, change: str) -> list[tuple[int, ComparedRun, CheckRow]]:
        """Every (run index, run, check) whose change against the baseline is ``change``."""
        return [
            (index, run, row)
            for row in self.rows
            for index, (run, c) in enumerate(zip(self.runs, row.changes, strict=True))
            if c == change
        ]

    def regressions(self) -> list[tuple[int, ComparedRun, CheckRow]]:
        """Every newly failing (run, check)."""
        return self.with_change("newly failing")


def change_of(baseline: str | None, status: str | None) -> str:
    """How a check's ``status`` differs from its ``baseline`` status (module docstring)."""
    if status == "failed" and baseline != "failed":
        return "newly failing"
    if baseline == "failed" and status == "passed":
        return "fixed"
    return "same" if status == baseline else "changed"


def compare_conformance(runs: Sequence[tuple[str, ConformanceRun]]) -> ConformanceComparison:
    """Compare conformance runs, each given as ``(label, run)``; the first is the baseline."""
    if len(runs) < 2:
        raise ValueError("a comparison needs at least two runs")
    by_run = [{c.id: c for c in run.checks} for _, run in runs]
    order: dict[str, CheckResult] = {}
    for checks in by_run:
        for check_id, check in checks.items():
            order.setdefault(check_id, check)
    rows = []
    for check_id, first in sorted(order.items(), key=lambda item: item[1].group):
        found = [checks.get(check_id) for checks in by_run]
        statuses = tuple(None if c is None else c.status.value for c in found)
        rows.append(
            CheckRow(
                id=check_id,
                title=first.title,
                group=first.group,
                statuses=statuses,
                messages=tuple("" if c is None else c.message for c in found),
                changes=("baseline", *(change_of(statuses[0], s) for s in statuses[1:])),
            )
        )
    infos = tuple(
        ComparedRun(
            label=label,
            endpoint=run.endpoint,
            model=run.model,
            started_at=run.started_at,
            status=run.status.value,
            summary=run.counts_by_name(),
        )
        for label, run in runs
    )
    baseline = runs[0][1]
    changes = tuple(
        (index, feature, was, now)
        for index, (_, run) in enumerate(runs[1:], start=1)
        for feature, was, now in capability_changes(baseline, run)
    )
    return ConformanceComparison(runs=infos, rows=tuple(rows), capability_changes=changes)


def conformance_summary(comparison: ConformanceComparison) -> list[str]:
    """A few lines per run against the baseline: counts of changes, then each change."""
    lines = []
    for index, run in enumerate(comparison.runs[1:], start=1):
        rows = {
            change: [row for row in comparison.rows if row.changes[index] == change]
            for change in ("newly failing", "fixed", "changed")
        }
        lines.append(
            f"{run.label}: {len(rows['newly failing'])} newly failing, "
            f"{len(rows['fixed'])} fixed, {len(rows['changed'])} other status changes"
        )
        if run.status == "interrupted":
            lines.append(f"  warning: {run.label} was interrupted; checks it did not run differ")
        elif run.status == "incomplete":
            lines.append(f"  warning: {run.label} is incomplete; checks it could not judge differ")
        for change, label in (
            ("newly failing", "NEWLY FAILING"),
            ("fixed", "fixed"),
            ("changed", "changed"),
        ):
            lines.extend(
                f"  {label:<13} {row.id}: {row.statuses[0] or 'not run'} -> "
                f"{row.statuses[index] or 'not run'}"
                for row in rows[change]
            )
        lines.extend(
            f"  capability    {feature}: {was} -> {now}"
            for i, feature, was, now in comparison.capability_changes
            if i == index
        )
    return lines


def render_conformance_comparison(comparison: ConformanceComparison) -> str:
    """The conformance comparison page (one self-contained HTML file)."""
    bars: StatusBars = status_bars(
        [(run.label, run.summary) for run in comparison.runs], label_width=260
    )
    return render(
        "compare_conformance.html.j2",
        comparison=comparison,
        bars=bars,
        newly_failing=comparison.with_change("newly failing"),
        fixed=comparison.with_change("fixed"),
        group_titles={row.group: group_title(row.group) for row in comparison.rows},
    )
