"""The registry is well-formed, and the README's check list is generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatgauge.conformance._catalogue import catalogue_markdown, replace_block
from chatgauge.conformance._registry import all_checks, select_checks

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_check_list_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert replace_block(text) == text, (
        "README check list is stale: python -m chatgauge.conformance._catalogue --write README.md"
    )


def test_every_check_appears_once_in_the_table() -> None:
    table = catalogue_markdown()
    for check in all_checks():
        assert table.count(f"`{check.id}`") == 1


def test_every_check_states_its_rule() -> None:
    for check in all_checks():
        assert len(check.rule.split()) >= 6, f"{check.id} has no real rule text"
        assert check.title


def test_selection_by_group_rule_and_id() -> None:
    checks = all_checks()
    assert {c.group for c in select_checks(checks, ["D"])} == {"D"}
    assert all(c.id.startswith("E6-") for c in select_checks(checks, ["E6"]))
    kept = select_checks(checks, ["E"], ["E8-openai-replay"])
    assert "E8-openai-replay" not in {c.id for c in kept}
    assert kept


def test_unknown_selection_is_an_error() -> None:
    with pytest.raises(ValueError, match="no check matches"):
        select_checks(all_checks(), ["Z9-nothing"])
