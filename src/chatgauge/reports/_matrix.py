"""The compatibility matrix: several endpoints' conformance results as one table.

Rows are checks, grouped by their group (A..G) in catalogue order; columns are the runs
(endpoint and model), in the order given; a cell is the check's status in that run, with
its message as a tooltip, or empty when that run did not include the check. Each column
also gets its run status and verdict counts, drawn as a stacked bar. Above the checks, the
endpoints x features view: per feature, each run's capability state, whether its contract
required the feature, and the verdict (``results/_capability_rows.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chatgauge.reports._charts import STATUS_ORDER, StatusBars, status_bars
from chatgauge.reports._jinja import render
from chatgauge.results._capability_rows import CapabilityRow, capability_rows
from chatgauge.results.conformance import CheckResult, ConformanceRun, group_title


@dataclass(frozen=True)
class Column:
    """One endpoint's run: who it is and how its checks came out."""

    number: int
    label: str
    endpoint: str
    model: str
    started_at: str
    status: str
    summary: Mapping[str, int]


@dataclass(frozen=True)
class MatrixCell:
    """A check's status in one run (``None``: not run there) and its message."""

    status: str | None
    message: str


@dataclass(frozen=True)
class MatrixRow:
    """One check across every endpoint."""

    id: str
    title: str
    tier: str
    rule: str
    cells: tuple[MatrixCell, ...]

    @property
    def differs(self) -> bool:
        """Whether the endpoints do not all share one status on this check."""
        return len({cell.status for cell in self.cells}) > 1

    @property
    def failed_somewhere(self) -> bool:
        """Whether any endpoint failed this check."""
        return any(cell.status == "failed" for cell in self.cells)


@dataclass(frozen=True)
class MatrixGroup:
    """The rows of one check group."""

    group: str
    title: str
    rows: tuple[MatrixRow, ...]


@dataclass(frozen=True)
class FeatureRow:
    """One feature across every endpoint (``None``: the run has no capability table)."""

    feature: str
    cells: tuple[CapabilityRow | None, ...]

    @property
    def differs(self) -> bool:
        """Whether the endpoints do not all share one state for this feature."""
        return len({cell.status if cell else None for cell in self.cells}) > 1


@dataclass(frozen=True)
class Matrix:
    """Endpoints x checks, and endpoints x features."""

    columns: tuple[Column, ...]
    groups: tuple[MatrixGroup, ...]
    features: tuple[FeatureRow, ...] = ()

    @property
    def check_count(self) -> int:
        """How many distinct checks the matrix has rows for."""
        return sum(len(group.rows) for group in self.groups)


def build_matrix(runs: Sequence[tuple[str, ConformanceRun]]) -> Matrix:
    """The matrix of conformance runs, each given as ``(label, run)``."""
    if not runs:
        raise ValueError("a matrix needs at least one run")
    by_run = [{c.id: c for c in run.checks} for _, run in runs]
    first_seen: dict[str, CheckResult] = {}
    for checks in by_run:
        for check_id, check in checks.items():
            first_seen.setdefault(check_id, check)
    grouped: dict[str, list[MatrixRow]] = {}
    for check_id, check in first_seen.items():
        cells = []
        for checks in by_run:
            found = checks.get(check_id)
            cells.append(
                MatrixCell(None, "not run")
                if found is None
                else MatrixCell(found.status.value, found.message)
            )
        row = MatrixRow(
            id=check_id,
            title=check.title,
            tier=check.tier.value,
            rule=check.rule,
            cells=tuple(cells),
        )
        grouped.setdefault(check.group, []).append(row)
    columns = tuple(
        Column(
            number=index,
            label=label,
            endpoint=run.endpoint,
            model=run.model,
            started_at=run.started_at,
            status=run.status.value,
            summary=run.counts_by_name(),
        )
        for index, (label, run) in enumerate(runs, start=1)
    )
    groups = tuple(
        MatrixGroup(group, group_title(group), tuple(rows))
        for group, rows in sorted(grouped.items())
    )
    return Matrix(columns=columns, groups=groups, features=feature_rows(runs))


def feature_rows(runs: Sequence[tuple[str, ConformanceRun]]) -> tuple[FeatureRow, ...]:
    """The endpoints x features view: one row per feature any run classified."""
    tables = [{row.feature: row for row in capability_rows(run)} for _, run in runs]
    features: dict[str, None] = {}
    for table in tables:
        features.update(dict.fromkeys(table))
    return tuple(
        FeatureRow(feature, tuple(table.get(feature) for table in tables)) for feature in features
    )


def render_matrix_html(matrix: Matrix) -> str:
    """The matrix page (one self-contained HTML file)."""
    bars: StatusBars = status_bars(
        [(f"{c.number}. {c.model} @ {c.endpoint}", c.summary) for c in matrix.columns],
        label_width=300,
    )
    return render("matrix.html.j2", matrix=matrix, bars=bars, statuses=STATUS_ORDER)


__all__ = [
    "Column",
    "FeatureRow",
    "Matrix",
    "MatrixCell",
    "MatrixGroup",
    "MatrixRow",
    "build_matrix",
    "feature_rows",
    "render_matrix_html",
]
