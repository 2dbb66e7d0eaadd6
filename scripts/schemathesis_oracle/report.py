"""Printing an oracle run and keeping its figures (``summary.json`` in the report directory)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from scripts.schemathesis_oracle.allowlist import Entry, triage
from scripts.schemathesis_oracle.findings import Finding, distinct
from scripts.schemathesis_oracle.run import OracleRun, Settings

EXCERPT_CHARS: Final = 400


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + " ..."


def _statuses(counts: dict[int, int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(counts.items())) or "none"


def print_run(run: OracleRun, entries: Sequence[Entry], settings: Settings, version: str) -> bool:
    """Print what each variant found; whether nothing blocks (no engine error, every
    finding allowed)."""
    target = "faults " + ", ".join(run.faults) if run.faults else "faithful"
    print(
        f"schemathesis {version} against chatgauge serve ({target}): "
        f"{settings.examples} examples per phase, seed {settings.seed}"
    )
    clean = True
    for variant, result in run.results.items():
        allowed, blocking = triage(result.findings, entries)
        print(
            f"\n{variant}: {result.cases} test cases (statuses {_statuses(result.statuses)}); "
            f"{len(result.findings)} findings, {len(blocking)} not on the allow-list"
        )
        for entry_id, found in allowed.items():
            if found:
                print(f"  allowed  {entry_id}: {len(found)}")
        for error in result.errors:
            clean = False
            print(f"  ERROR    {error.kind}: {_excerpt(error.text)}")
        for finding, count in distinct(blocking):
            clean = False
            _print_blocking(finding, count)
        print(f"  log: {run.logs[variant]}")
    used = {
        entry_id
        for result in run.results.values()
        for entry_id, found in triage(result.findings, entries)[0].items()
        if found
    }
    unused = [entry.id for entry in entries if entry.id not in used]
    if unused:
        # Not a failure (a short run may not draw such a request), but a hint to prune.
        print(f"\nallow-list entries no finding needed in this run: {', '.join(unused)}")
    print("\nverdict: " + ("no finding outside the allow-list" if clean else "FAILED"))
    return clean


def _print_blocking(finding: Finding, count: int) -> None:
    print(f"  BLOCKING {finding.summary()}  (x{count})")
    for line in finding.message.splitlines()[1:]:
        print(f"           {line}")
    print(f"           request: {_excerpt(finding.request_body)}")
    if finding.error_message is not None:
        print(f"           endpoint said: {_excerpt(finding.error_message)}")


def run_summary(run: OracleRun, entries: Sequence[Entry]) -> dict[str, Any]:
    """The figures of one run per variant: cases, statuses, allowed counts, blocking ones."""
    variants: dict[str, Any] = {}
    for variant, result in run.results.items():
        allowed, blocking = triage(result.findings, entries)
        variants[variant] = {
            "test_cases": result.cases,
            "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
            "findings": len(result.findings),
            "allowed": {entry_id: len(found) for entry_id, found in allowed.items() if found},
            "blocking": [
                {"finding": finding.summary(), "count": count, "request": finding.request_body}
                for finding, count in distinct(blocking)
            ],
            "engine_errors": [f"{error.kind}: {error.text}" for error in result.errors],
        }
    return {"faults": list(run.faults), "variants": variants}


def write_summary(
    run: OracleRun, entries: Sequence[Entry], settings: Settings, version: str, report_dir: Path
) -> Path:
    """Write ``summary.json`` (date, versions, settings and :func:`run_summary`)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "summary.json"
    summary = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "schemathesis": version,
        "examples": settings.examples,
        "seed": settings.seed,
        **run_summary(run, entries),
    }
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
