"""Proof harness: run one check against the reference endpoint, faithful or with a fault.

Every registered check must be proven both ways (it fails on a server with exactly the
matching fault, and passes on a faithful one). Test modules named ``test_proofs_*.py``
declare ``PROOFS: dict[str, Proof]``; ``test_proof_coverage.py`` makes sure every check id
in the registry has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chatgauge._client import ChatClient, ClientConfig
from chatgauge._secret import Secret
from chatgauge.conformance._context import CheckContext, Settings
from chatgauge.conformance._registry import all_checks
from chatgauge.conformance._results import CheckResult, Status
from chatgauge.conformance._runner import run_check
from chatgauge.server import ServerConfig, background_server

API_KEY = "sk-chatgauge-proof-key"


@dataclass(frozen=True)
class Proof:
    """How to prove a check: the fault that must fail it, and the setup both runs need.

    ``fault`` names a reference-endpoint fault, ``framing:NAME[+NAME]`` for valid but
    unusual framing variants (the proofs of tier-I checks, which only ever warn), or
    ``feature:NAME=STATE`` for a capability state the endpoint plays (the H checks).

    ``server`` holds extra ``ServerConfig`` fields, ``settings`` extra ``Settings`` fields;
    ``expect_faulty`` is the verdict with the fault on (``warning`` for tier I checks).
    """

    fault: str
    server: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    expect_faulty: Status = Status.FAILED
    expect_faithful: Status = Status.PASSED


@contextmanager
def endpoint(
    faults: frozenset[str] = frozenset(), **server: Any
) -> Iterator[tuple[str, ChatClient]]:
    """A reference endpoint (with ``faults``) and a client configured for it."""
    server.setdefault("models", ("pro", "fast", "default"))
    api_key = server.get("api_key")
    config = ServerConfig(port=0, faults=faults, **server)
    with background_server(config) as base_url:
        client_key = api_key if isinstance(api_key, Secret) else None
        with ChatClient(ClientConfig(base_url=base_url, api_key=client_key)) as client:
            yield base_url, client


def run_single(check_id: str, faults: frozenset[str], proof: Proof) -> CheckResult:
    """Run the check ``check_id`` alone against a fresh endpoint."""
    (check,) = [c for c in all_checks() if c.id == check_id]
    server = dict(proof.server)
    features = {f for f in faults if f.startswith("feature:")}
    if features:
        server["features"] = dict(
            f.removeprefix("feature:").split("=", 1) for f in sorted(features)
        )
        faults = faults - features
    framings = {f for f in faults if f.startswith("framing:")}
    if framings:
        names = {n for f in framings for n in f.removeprefix("framing:").split("+")}
        server["framings"] = frozenset(names) | server.get("framings", frozenset())
        faults = faults - framings
    with endpoint(faults, **server) as (_, client):
        settings = Settings(model="pro", **proof.settings)
        ctx = CheckContext(send_case=client.send, settings=settings, get=client.get)
        return run_check(ctx, check)


def assert_fails_on_its_fault(check_id: str, proof: Proof) -> CheckResult:
    """The check ends with ``proof.expect_faulty`` on its fault, with a message and evidence."""
    result = run_single(check_id, frozenset({proof.fault}), proof)
    assert result.status is proof.expect_faulty, result.message
    assert result.message
    assert result.evidence, "a deviation must carry evidence"
    assert all(e.request is not None for e in result.evidence), "evidence shows the request"
    return result


def assert_passes_faithfully(check_id: str, proof: Proof) -> CheckResult:
    """The check ends with ``proof.expect_faithful`` on the faithful endpoint."""
    result = run_single(check_id, frozenset(), proof)
    assert result.status is proof.expect_faithful, result.message
    assert result.message
    return result
