"""The check catalogue as plain text, for ``chatgauge check --list-checks`` and the plugin's
``--chatgauge-list-checks``. (Results as text live in the results layer.)"""

from __future__ import annotations

from collections.abc import Iterable

from chatgauge.conformance._registry import Check


def check_table(checks: Iterable[Check]) -> str:
    """The catalogue as an aligned text table: id, tier, severity, title."""
    rows = [("ID", "TIER", "SEVERITY", "TITLE")]
    rows += [(c.id, c.tier.value, c.severity.value, c.title) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


__all__ = ["check_table"]
