"""The whole catalogue on the faithful endpoint: no failure, however unusual the framing.

Valid-but-unusual framing (CRLF, lone CR, keep-alive comments, fragmented writes, no space
after the colon, multi-line data, id/retry fields, extra unknown fields, ``usage: null``)
must never produce a failure; tier-I checks may warn.
"""

from __future__ import annotations

import pytest

from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import Status, Tier
from chatgauge.conformance._runner import run_checks
from chatgauge.server import FRAMINGS
from tests.conformance_harness import endpoint

FRAMING_SETS = [frozenset(), *[frozenset({name}) for name in sorted(FRAMINGS)]]


@pytest.mark.parametrize("framings", FRAMING_SETS, ids=lambda f: "+".join(sorted(f)) or "plain")
def test_no_check_fails_on_valid_framing(framings: frozenset[str]) -> None:
    with endpoint(framings=framings) as (base_url, client):
        ctx = CheckContext(
            send_case=client.send, settings=Settings(model="pro", examples=4, derandomize=True)
        )
        run = run_checks(ctx, all_checks(), endpoint=base_url)
    failed = {r.id: r.message for r in run.checks if r.status is Status.FAILED}
    assert not failed
    assert not run.internal_errors
    warned = {r.id for r in run.checks if r.status is Status.WARNING}
    tier_i = {c.id for c in all_checks() if c.tier is Tier.INTEROP}
    # Soft rules (C3, E7) may warn only where they judge; on plain framing nothing warns.
    assert warned <= tier_i
    if not framings:
        assert not warned
    assert run.requests_sent <= ctx.budget.max_requests
