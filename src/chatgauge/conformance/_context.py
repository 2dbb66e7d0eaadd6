"""What a check sees: the endpoint's settings, the budget, and cached probe exchanges.

Probes are named requests (see ``_probes.py``) that several checks share: the context sends
each at most once per run and keeps the exchange, so a full run stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._budget import DEFAULT_MAX_TOKENS, Budget, BudgetExhausted
from chatgauge.conformance._inspect import (
    excerpt,
    is_clean_refusal,
    total_tokens,
    visible_bytes,
)
from chatgauge.conformance._results import (
    CheckOutcome,
    CheckSkipped,
    CheckUnsupported,
    Evidence,
    SkipKind,
)

Sender = Callable[[ChatCase], ChatExchange]

DEFAULT_EXAMPLES = 12


@dataclass(frozen=True)
class Settings:
    """How the endpoint is to be judged.

    ``auth_required``: the endpoint was given an API key, so it is expected to refuse
    requests without a valid one (A4 is skipped otherwise). ``strict``: validate bodies
    against the spec-literal schema tier instead of the compat tier. ``examples``:
    Hypothesis examples per property; ``derandomize`` makes them reproducible for CI.
    """

    model: str
    max_tokens: int = DEFAULT_MAX_TOKENS
    auth_required: bool = False
    strict: bool = False
    examples: int = DEFAULT_EXAMPLES
    derandomize: bool = False
    seed: int = 7


@dataclass
class CheckContext:
    """Sends probes within the budget and hands checks their exchanges."""

    send_case: Sender
    settings: Settings
    budget: Budget = field(default_factory=Budget)
    exchanges: list[ChatExchange] = field(default_factory=list)
    _cache: dict[str, ChatExchange] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name requests are sent to."""
        return self.settings.model

    def send(self, case: ChatCase) -> ChatExchange:
        """Send one case (counted against the budget) and keep its exchange."""
        try:
            self.budget.reserve_request()
        except BudgetExhausted as exc:
            raise CheckSkipped(f"budget exhausted: {exc}", kind=SkipKind.RUN) from None
        exchange = self.send_case(case)
        self.budget.add_tokens(total_tokens(exchange))
        self.exchanges.append(exchange)
        return exchange

    def probe(self, name: str) -> ChatExchange:
        """The exchange of the named probe, sent on first use and cached."""
        from chatgauge.conformance._probes import PROBES

        if name not in self._cache:
            self._cache[name] = self.send(PROBES[name](self))
        return self._cache[name]

    def answered(self, name: str, *, optional: bool = False) -> ChatExchange:
        """The probe's exchange when it was answered with 200.

        Otherwise the check cannot judge its own rule: an optional feature refused cleanly
        is ``unsupported``; anything else is ``skipped`` here, because acceptance itself is
        judged by the A-group checks (one fault, one failing check).
        """
        exchange = self.probe(name)
        if exchange.status == 200 and exchange.error_kind is None:
            return exchange
        if optional and is_clean_refusal(exchange):
            raise CheckUnsupported(
                f"the endpoint refused the optional feature of probe {name!r} cleanly",
                self.evidence(exchange),
            )
        what = exchange.error or f"status {exchange.status}"
        from chatgauge.conformance._probes import TIMEOUT_JUDGED

        if exchange.error_kind == "timeout" and name in TIMEOUT_JUDGED:
            # A tiny request that never finishes is itself evidence, judged by its limit rule.
            raise CheckSkipped(
                f"probe {name!r} got no complete answer ({what}); judged by {TIMEOUT_JUDGED[name]}",
                self.evidence(exchange),
                kind=SkipKind.ENDPOINT,
            )
        raise CheckSkipped(
            f"probe {name!r} was not answered with 200 ({what}); acceptance is judged by A1",
            self.evidence(exchange),
        )

    def answered_probes(self, *names: str, optional: Collection[str] = ()) -> list[ChatExchange]:
        """The exchanges of those of ``names`` answered with 200, in order.

        A check judges what it can: a probe refused or not answered is left out (acceptance
        is group A's matter; ``optional`` names probes of optional features, which may be
        refused cleanly). Only when none was answered does the check end, with the outcome
        of the first probe (skipped, or unsupported for an optional feature refused cleanly).
        """
        found: list[ChatExchange] = []
        first: CheckOutcome | None = None
        for name in names:
            try:
                found.append(self.answered(name, optional=name in optional))
            except CheckOutcome as outcome:
                first = first or outcome
        if not found and first is not None:
            raise first
        return found

    @staticmethod
    def left_out(names: Collection[str], judged: Collection[ChatExchange]) -> str:
        """A note naming the probes among ``names`` that were not judged ('' when none)."""
        labels = {exchange.case.label for exchange in judged}
        missing = [name for name in names if name not in labels]
        return f"; not judged (not answered with 200): {', '.join(missing)}" if missing else ""

    def base_body(self, **extra: Any) -> dict[str, Any]:
        """A small valid request body for the configured model, plus ``extra`` fields."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": "You are a concise assistant."},
                {"role": "user", "content": "Name three colours of the rainbow."},
            ],
            "max_tokens": self.settings.max_tokens,
            "temperature": 0,
            "seed": self.settings.seed,
        }
        body.update(extra)
        return body

    @staticmethod
    def evidence(exchange: ChatExchange, **detail: Any) -> Evidence:
        """Evidence from an exchange: the request, the status and an excerpt of the answer."""
        case = exchange.case
        request: Any = dict(case.body) if case.raw_body is None else excerpt(case.raw_body)
        if case.stream or exchange.is_event_stream:
            raw_sse = visible_bytes(exchange.raw)
            response = ""
        else:
            raw_sse = ""
            response = excerpt(exchange.raw)
        if exchange.error:
            detail = {"transport_error": exchange.error, **detail}
        return Evidence(
            label=case.label,
            request=request,
            status=exchange.status,
            response_excerpt=response,
            raw_sse=raw_sse,
            detail=detail,
        )
