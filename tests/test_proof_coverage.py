"""Every registered check must be proven both ways; a check without a proof fails here."""

from __future__ import annotations

import importlib
import pkgutil

import tests
from chatgauge.conformance._registry import all_checks
from chatgauge.server import FAULTS, FRAMINGS
from chatgauge.server._features import FEATURE_STATES


def _declared_proofs() -> dict[str, object]:
    proofs: dict[str, object] = {}
    for module_info in pkgutil.iter_modules(tests.__path__):
        if module_info.name.startswith("test_proofs_"):
            module = importlib.import_module(f"tests.{module_info.name}")
            proofs.update(module.PROOFS)
    return proofs


def test_every_check_has_a_proof() -> None:
    missing = {c.id for c in all_checks()} - set(_declared_proofs())
    assert not missing, f"checks without a fault proof: {sorted(missing)}"


def test_every_proof_names_a_registered_check_and_a_real_fault() -> None:
    registered = {c.id for c in all_checks()}
    for check_id, proof in _declared_proofs().items():
        assert check_id in registered, f"proof for unknown check {check_id}"
        fault: str = proof.fault  # type: ignore[attr-defined]
        if fault.startswith("framing:"):
            assert set(fault.removeprefix("framing:").split("+")) <= set(FRAMINGS)
        elif fault.startswith("feature:"):
            name, _, state = fault.removeprefix("feature:").partition("=")
            assert state in FEATURE_STATES[name], f"{check_id}: {fault!r} cannot be played"
        else:
            assert fault in FAULTS, f"{check_id}: unknown fault {fault!r}"
