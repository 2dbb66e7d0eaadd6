"""Every fault of the reference endpoint is caught by a full catalogue run.

The proof tests run one check at a time; here the whole catalogue runs against the endpoint
with one fault on, as ``chatgauge check`` would, and the checks proven against that fault
must be among the failures (or warnings, for tier-I checks) of the full run.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import tests
from chatgauge._secret import Secret
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import Status
from chatgauge.conformance._runner import run_checks
from chatgauge.results.conformance import RunStatus
from chatgauge.server import FAULTS
from tests.conformance_harness import API_KEY, Proof, endpoint

# Faults that only show on a configured endpoint, or (spec-literal tier) under --strict.
NEEDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "no-auth-check": ({"api_key": Secret(API_KEY)}, {"auth_required": True}),
    # 4 rps: the 8-request burst of F2 still meets 429s, and the other ~110 requests of the
    # run wait about 30 s for tokens instead of 2 minutes.
    "no-retry-after": ({"rate_limit_rps": 4.0}, {}),
    "omit-refusal-and-logprobs": ({}, {"strict": True}),
}


def _proofs_by_fault() -> dict[str, set[str]]:
    """Per fault, the checks proven to fail on it: by its proof, or as another variant of
    its rule (``MORE_FAULTS``)."""
    by_fault: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(tests.__path__):
        if info.name.startswith("test_proofs_"):
            module = importlib.import_module(f"tests.{info.name}")
            proofs: dict[str, Proof] = module.PROOFS
            for check_id, proof in proofs.items():
                by_fault.setdefault(proof.fault, set()).add(check_id)
            variants: list[tuple[Any, ...]] = getattr(module, "MORE_FAULTS", [])
            for check_id, fault, *_ in variants:
                by_fault.setdefault(fault, set()).add(check_id)
    return by_fault


PROVEN = _proofs_by_fault()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_full_run_flags_the_fault(fault: str) -> None:
    server, settings = NEEDS.get(fault, ({}, {}))
    with endpoint(frozenset({fault}), **server) as (base_url, client):
        ctx = CheckContext(
            send_case=client.send,
            settings=Settings(model="pro", examples=4, derandomize=True, **settings),
        )
        run = run_checks(ctx, all_checks(), endpoint=base_url)
    flagged = {r.id for r in run.checks if r.status in (Status.FAILED, Status.WARNING)}
    assert flagged, f"a full run did not notice fault {fault!r}"
    missed = PROVEN.get(fault, set()) - flagged
    assert not missed, {r.id: r.message for r in run.checks if r.id in missed}
    assert not run.internal_errors
    # A fault never leaves the run incomplete: what it makes unjudgeable, another check fails.
    failed = any(r.status is Status.FAILED for r in run.checks)
    assert run.status is (RunStatus.FAILED if failed else RunStatus.PASSED), run.coverage
