"""Every registered check as one test item, e.g. ``test_check[B2-choice-count]``.

Run against any endpoint::

    pytest --pyargs chatgauge.conformance.suite \\
        --chatgauge-base-url http://127.0.0.1:8000/v1 --chatgauge-model NAME

A failed check fails its test with the message and evidence; a warning passes with a
``ChatgaugeConformanceWarning``; skipped and unsupported checks are skipped with the status
in the reason. Items carry ``chatgauge_group`` / ``chatgauge_tier`` markers for ``-m``.
"""

from __future__ import annotations

import pytest

from chatgauge.conformance._registry import all_checks
from chatgauge.conformance.plugin import CheckRunner, check_marks


@pytest.mark.parametrize(
    "check_id",
    [pytest.param(c.id, id=c.id, marks=check_marks(c)) for c in all_checks()],
)
def test_check(check_id: str, chatgauge_check: CheckRunner) -> None:
    """The endpoint follows the rule of the check ``check_id``."""
    chatgauge_check.require(check_id)
