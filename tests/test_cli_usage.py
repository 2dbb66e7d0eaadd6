"""Small things users hit on the command line: help texts, unknown flags, letter case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatgauge.cli import build_parser
from chatgauge.cli._help import (
    CHECK_EXIT_CODES,
    DEMO_EXIT_CODES,
    LOAD_EXIT_CODES,
    REPORT_EXIT_CODES,
    SERVE_EXIT_CODES,
)
from chatgauge.conformance._registry import all_checks, select_checks
from tests.check_support import check_env

COMMANDS = {
    ("serve",): SERVE_EXIT_CODES,
    ("check",): CHECK_EXIT_CODES,
    ("load",): LOAD_EXIT_CODES,
    ("demo",): DEMO_EXIT_CODES,
    ("report",): REPORT_EXIT_CODES,
    ("report", "html"): REPORT_EXIT_CODES,
    ("report", "compare"): REPORT_EXIT_CODES,
    ("report", "matrix"): REPORT_EXIT_CODES,
    ("report", "schema"): REPORT_EXIT_CODES,
}


def _chatgauge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatgauge", *args],
        cwd=cwd,
        env=check_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _help(*command: str) -> str:
    parser = build_parser()
    for name in command:
        parser = next(
            action.choices[name]
            for action in parser._actions
            if hasattr(action, "choices") and isinstance(action.choices, dict)
        )
    return parser.format_help()


def test_every_subcommand_exists_in_the_table_below() -> None:
    top = build_parser()
    (commands,) = [a for a in top._actions if isinstance(a.choices, dict)]
    assert isinstance(commands.choices, dict)
    assert {(name,) for name in commands.choices} == {c for c in COMMANDS if len(c) == 1}


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_every_help_lists_its_exit_codes(command: tuple[str, ...]) -> None:
    text = _help(*command)

    assert "exit codes:" in text
    listed = text.split("exit codes:", 1)[1].splitlines()
    for code, meaning in COMMANDS[command].items():
        assert any(line.split(None, 1) == [str(code), meaning] for line in listed), (code, text)


def test_check_help_names_incomplete_exit_4() -> None:
    assert "4    incomplete: no check failed, but a check could not be judged" in _help("check")


def test_an_unknown_flag_shows_the_subcommands_usage_and_a_suggestion(tmp_path: Path) -> None:
    done = _chatgauge(tmp_path, "check", "--model", "m", "--max-requestz", "3")

    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("usage: chatgauge check ")
    assert lines[-1] == (
        "chatgauge check: error: unrecognized arguments: --max-requestz 3 "
        "(did you mean --max-requests?)"
    )
    assert "Traceback" not in done.stderr


def test_an_unknown_flag_of_a_nested_subcommand_names_that_one(tmp_path: Path) -> None:
    done = _chatgauge(tmp_path, "report", "compare", "a.json", "--fail-on-regresion")

    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("usage: chatgauge report compare ")
    assert done.stderr.splitlines()[-1].endswith("(did you mean --fail-on-regression?)")


def test_check_ids_rules_and_groups_match_in_any_letter_case() -> None:
    checks = all_checks()

    assert select_checks(checks, ["d3"]) == select_checks(checks, ["D3"]) != []
    assert select_checks(checks, ["d3-DONE-last"]) == select_checks(checks, ["D3-done-last"])
    assert select_checks(checks, ["e"]) == [c for c in checks if c.group == "E"]
    assert select_checks(checks, [], ["a", "B2"]) == [
        c for c in checks if c.group != "A" and not c.id.startswith("B2-")
    ]
