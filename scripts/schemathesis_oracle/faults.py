"""The second opinion: the same oracle against each faulty reference endpoint.

For every ``--fault`` of ``chatgauge serve`` (or the ones named), :func:`sweep` runs the
oracle against ``chatgauge serve --fault NAME`` and records whether schemathesis noticed:
a fault counts as *caught* when the run has a finding the allow-list does not excuse (or an
engine error), since the faithful endpoint's run has none. The results go to
``faults.json`` in the report directory and, with ``--write-docs``, into the table between
the markers of a Markdown file.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chatgauge.server import FAULTS
from scripts.schemathesis_oracle.allowlist import Entry, triage
from scripts.schemathesis_oracle.run import OracleError, Settings, run_oracle, schemathesis_version

START_MARKER: Final = "<!-- oracle-faults:start -->"
END_MARKER: Final = "<!-- oracle-faults:end -->"
_RULE_PREFIX: Final = re.compile(r"^(?P<rules>[A-G][0-9][^:]*):\s*(?P<what>.*)$")


@dataclass(frozen=True)
class FaultVerdict:
    """What schemathesis made of one fault."""

    fault: str
    rules: str
    description: str
    caught: bool
    checks: tuple[str, ...]
    example: str


def verdict(fault: str, checks: Sequence[str], example: str) -> FaultVerdict:
    """A verdict for ``fault`` from the checks that fired outside the allow-list."""
    match = _RULE_PREFIX.match(FAULTS[fault])
    rules = match.group("rules") if match else ""
    description = match.group("what") if match else FAULTS[fault]
    unique = tuple(sorted(set(checks)))
    return FaultVerdict(fault, rules, description, bool(unique), unique, example)


def _judge(
    fault: str, settings: Settings, entries: Sequence[Entry], spec: Any, workdir: Path
) -> FaultVerdict:
    run = run_oracle(spec, settings, workdir, faults=(fault,))
    checks: list[str] = []
    example = ""
    for result in run.results.values():
        _, blocking = triage(result.findings, entries)
        checks += [finding.check for finding in blocking]
        checks += [f"error: {error.kind}" for error in result.errors]
        if not example and blocking:
            example = blocking[0].summary()
        if not example and result.errors:
            example = f"{result.errors[0].kind}: {result.errors[0].text[:200]}"
    return verdict(fault, checks, example)


def render_table(verdicts: Sequence[FaultVerdict]) -> str:
    """The Markdown table: fault, chatgauge rule, whether schemathesis caught it, how."""
    lines = [
        "| fault (`--fault`) | chatgauge rule | caught by schemathesis | schemathesis checks |",
        "|---|---|---|---|",
    ]
    for item in verdicts:
        caught = "yes" if item.caught else "no"
        checks = ", ".join(f"`{check}`" for check in item.checks) or "-"
        lines.append(f"| `{item.fault}` | {item.rules} | {caught} | {checks} |")
    return "\n".join(lines)


def update_docs(path: Path, block: str) -> None:
    """Replace the text between the markers of ``path`` with ``block``."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise OracleError(f"{path} has no {START_MARKER} ... {END_MARKER} block")
    head = text[: start + len(START_MARKER)]
    path.write_text(f"{head}\n{block}\n{text[end:]}", encoding="utf-8")


def sweep(
    spec: Any,
    settings: Settings,
    entries: Sequence[Entry],
    names: Sequence[str],
    report_dir: Path,
    docs: Path | None,
) -> int:
    """Judge each fault (every one when ``names`` is empty); 0 when all ran, 2 on a bad name."""
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        print(
            f"error: unknown fault {unknown[0]!r}; see `chatgauge serve --list-faults`",
            file=sys.stderr,
        )
        return 2
    chosen = [name for name in FAULTS if name in names] if names else list(FAULTS)
    version = schemathesis_version()
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    verdicts: list[FaultVerdict] = []
    for index, fault in enumerate(chosen, 1):
        item = _judge(fault, settings, entries, spec, report_dir / "faults" / fault)
        verdicts.append(item)
        mark = "caught" if item.caught else "missed"
        print(f"[{index}/{len(chosen)}] {fault}: {mark} {', '.join(item.checks)}", flush=True)
        # Rewritten after every fault, so that an interrupted sweep keeps what it judged.
        _write_record(report_dir, stamp, version, settings, verdicts)
    caught = sum(item.caught for item in verdicts)
    print(f"schemathesis caught {caught} of {len(verdicts)} faults")
    if docs is not None:
        caption = (
            f"Measured {stamp[:10]} with schemathesis {version}, {settings.examples} examples "
            f"per phase, seed {settings.seed}, both spec variants: {caught} of "
            f"{len(verdicts)} faults caught."
        )
        update_docs(docs, f"{caption}\n\n{render_table(verdicts)}")
    return 0


def _write_record(
    report_dir: Path,
    stamp: str,
    version: str,
    settings: Settings,
    verdicts: Sequence[FaultVerdict],
) -> None:
    record = {
        "date": stamp,
        "schemathesis": version,
        "examples": settings.examples,
        "seed": settings.seed,
        "caught": sum(item.caught for item in verdicts),
        "faults": [item.__dict__ | {"checks": list(item.checks)} for item in verdicts],
    }
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "faults.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
