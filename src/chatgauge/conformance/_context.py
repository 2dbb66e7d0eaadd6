"""What a check sees: the endpoint's settings, the budget, and cached probe exchanges.

Probes are named requests (see ``_probes.py``) that several checks share: the context sends
each at most once per run and keeps the exchange, so a full run stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Final

from chatgauge._models import ChatCase, ChatExchange
from chatgauge._secret import Secret
from chatgauge.conformance._boundary import safe_exchange
from chatgauge.conformance._budget import DEFAULT_MAX_TOKENS, Budget, BudgetExhausted
from chatgauge.conformance._contract import make_contract
from chatgauge.conformance._features import CHECK_FEATURES, FEATURES, Found, features_of_body
from chatgauge.conformance._inspect import (
    body_excerpt,
    excerpt,
    is_clean_refusal,
    total_tokens,
)
from chatgauge.conformance._results import (
    CheckOutcome,
    CheckSkipped,
    CheckUnsupported,
    Evidence,
    SkipKind,
)
from chatgauge.conformance._sending import Dispatcher
from chatgauge.results import safe_text
from chatgauge.results.conformance import Capability, Contract, FeatureState

Sender = Callable[[ChatCase], ChatExchange]
Getter = Callable[[str], ChatExchange]
"""GET ``{base_url}{path}`` (``ChatClient.get``): how the models endpoint is probed."""

NOT_HONOURED: Final = frozenset({FeatureState.UNSUPPORTED, FeatureState.IGNORED})
"""The states of an optional feature whose checks and requests are not judged."""

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
    send_seed: bool = True


@dataclass
class CheckContext:
    """Sends probes within the budget and hands checks their exchanges.

    ``dispatcher`` holds the run's sending rules (pacing, retries of 429/503, deadlines,
    see ``_sending.py``); ``secret`` is the API key, masked in every exchange as it arrives
    (``_boundary.py``) and in evidence; ``checkpoint`` is called before every request (the
    run's interrupt guard: it raises ``KeyboardInterrupt`` once Ctrl-C was pressed).

    ``contract`` says which features the endpoint must offer: a probe or request that uses
    an optional feature the endpoint does not honour (unsupported or ignored, classified on
    first need by ``_capabilities.py``) is not sent, and the check says why (a skip of kind
    ``capability``). ``get`` reads the models endpoint (``None``: not probed).
    """

    send_case: Sender
    settings: Settings
    budget: Budget = field(default_factory=Budget)
    exchanges: list[ChatExchange] = field(default_factory=list)
    dispatcher: Dispatcher = field(default_factory=Dispatcher)
    secret: Secret | None = None
    checkpoint: Callable[[], None] | None = None
    contract: Contract = field(default_factory=make_contract)
    get: Getter | None = None
    _cache: dict[str, ChatExchange] = field(default_factory=dict)
    _found: dict[str, Found] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name requests are sent to."""
        return self.settings.model

    @property
    def stop_reason(self) -> str:
        """Why the run stopped sending ('' while it goes on)."""
        return self.dispatcher.stop_reason

    def send(self, case: ChatCase, *, retry: bool = True) -> ChatExchange:
        """Send one case and keep its exchange (every attempt's, when it is retried).

        Each attempt is counted against the budget; an answer 429 or 503 is retried by the
        dispatcher's rules unless ``retry`` is false. Raises :class:`CheckSkipped` (kind
        ``run``) when the budget is exhausted or the run has stopped.
        """
        attempt = 0
        while True:
            if self.checkpoint is not None:
                self.checkpoint()
            self.dispatcher.check_running()
            try:
                self.budget.reserve_request()
            except BudgetExhausted as exc:
                raise CheckSkipped(f"budget exhausted: {exc}", kind=SkipKind.RUN) from None
            sent = self.dispatcher.prepare(case)
            exchange = safe_exchange(self.send_case(sent), self.secret)
            self.budget.add_tokens(total_tokens(exchange))
            self.exchanges.append(exchange)
            self.dispatcher.record(exchange)
            delay = self.dispatcher.retry_delay(exchange, attempt) if retry else None
            if delay is None:
                return exchange
            self.dispatcher.wait_to_retry(delay)
            attempt += 1

    def probe(self, name: str) -> ChatExchange:
        """The exchange of the named probe, sent on first use and cached.

        A probe that uses an optional feature the endpoint does not honour is not judged:
        :class:`CheckSkipped` of kind ``capability`` says which feature and why.
        """
        from chatgauge.conformance._probes import PROBES

        if name in self._cache:
            self.gate(self._cache[name].case.body)
            return self._cache[name]
        case = PROBES[name](self)
        self.gate(case.body)
        self._cache[name] = self.send(case)
        return self._cache[name]

    def raw_probe(self, name: str) -> ChatExchange:
        """The named probe's exchange without the contract's gate (to classify a feature)."""
        from chatgauge.conformance._probes import PROBES

        if name not in self._cache:
            self._cache[name] = self.send(PROBES[name](self))
        return self._cache[name]

    def classified(self, feature: str) -> Found:
        """What the endpoint does with ``feature``, classified on first use and kept."""
        from chatgauge.conformance._capabilities import classify

        if feature not in self._found:
            self._found[feature] = classify(self, feature)
        return self._found[feature]

    def capability(self, feature: str) -> Capability:
        """:meth:`classified` as the record a report shows (with the contract's say)."""
        found = self.classified(feature)
        return Capability(
            status=found.status,
            evidence=found.evidence,
            required=feature not in self.contract.optional,
            probe=found.probe,
        )

    @property
    def capabilities(self) -> dict[str, Capability]:
        """The features classified so far, in the order of ``FEATURES``."""
        return {f: self.capability(f) for f in FEATURES if f in self._found}

    def keep(self, name: str, exchange: ChatExchange) -> ChatExchange:
        """Keep an exchange sent outside :meth:`probe` under ``name`` (for evidence)."""
        self.exchanges.append(exchange)
        self._cache.setdefault(name, exchange)
        return exchange

    def cached(self, name: str) -> ChatExchange | None:
        """The exchange of a probe already sent (``None``: not sent)."""
        return self._cache.get(name)

    def not_judged(self, body: object) -> str | None:
        """Why a request with ``body`` is not judged (``None``: it is): it uses an optional
        feature of the contract that the endpoint refuses or ignores."""
        return self._unhonoured(features_of_body(body), "it uses")

    def check_not_judged(self, check_id: str) -> str | None:
        """Why the check ``check_id`` is not judged at all (``None``: it is): its whole rule
        is about an optional feature the endpoint refuses or ignores (``CHECK_FEATURES``)."""
        return self._unhonoured(CHECK_FEATURES.get(check_id, frozenset()), "its rule is about")

    def _unhonoured(self, features: Collection[str], what: str) -> str | None:
        for feature in sorted(features):
            if feature not in self.contract.optional:
                continue
            state = self.classified(feature).status
            if state in NOT_HONOURED:
                does = "refuses" if state is FeatureState.UNSUPPORTED else "ignores"
                return (
                    f"not judged: {what} {feature}, which the contract leaves optional and "
                    f"the endpoint {does} (capability {state.value})"
                )
        return None

    def gate(self, body: object) -> None:
        """Raise :class:`CheckSkipped` (kind ``capability``) when ``body`` is not judged."""
        reason = self.not_judged(body)
        if reason is not None:
            raise CheckSkipped(reason, kind=SkipKind.CAPABILITY)

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
        kind = skip_kind_of(exchange)
        judged_by = "" if kind is SkipKind.RUN else "; acceptance is judged by A1"
        raise CheckSkipped(
            f"probe {name!r} was not answered with 200 ({what}){judged_by}",
            self.evidence(exchange),
            kind=kind,
        )

    def answered_probes(self, *names: str, optional: Collection[str] = ()) -> list[ChatExchange]:
        """The exchanges of those of ``names`` answered with 200, in order.

        A check judges what it can: a probe refused or not answered is left out (acceptance
        is group A's matter; ``optional`` names probes of optional features, which may be
        refused cleanly). Only when none was answered does the check end, with the outcome
        of the first probe (skipped, or unsupported for an optional feature refused cleanly).
        A probe the run itself could not get answered (rate limit, timeout) ends the check as
        a run-caused skip: a verdict on the others alone would hide what was not judged.
        """
        found: list[ChatExchange] = []
        first: CheckOutcome | None = None
        for name in names:
            try:
                found.append(self.answered(name, optional=name in optional))
            except CheckOutcome as outcome:
                if isinstance(outcome, CheckSkipped) and outcome.kind is SkipKind.RUN:
                    raise  # the run could not get this answer: judging the rest is partial
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
        }
        if self.settings.send_seed:
            body["seed"] = self.settings.seed
        body.update(extra)
        return body

    def evidence(self, exchange: ChatExchange, **detail: Any) -> Evidence:
        """Evidence from an exchange: the request, the status and an excerpt of the answer.

        The excerpt is bounded: the start and the end of the body (or raw stream), and for
        a body the client did not keep whole, its size and SHA-256 as well. The key is
        masked before anything is cut.
        """
        return exchange_evidence(exchange, self.secret, **detail)


def skip_kind_of(exchange: ChatExchange) -> SkipKind:
    """Why a probe's answer left a check unjudged: ``run`` when the run could not get an
    answer (rate limited, a timeout, a dropped connection, a bound of the run crossed),
    ``endpoint`` when the endpoint answered and another check judges that answer."""
    if exchange.status == 429 or exchange.error_kind in ("timeout", "connection", "limit"):
        return SkipKind.RUN
    return SkipKind.ENDPOINT


def exchange_evidence(exchange: ChatExchange, secret: Secret | None, **detail: Any) -> Evidence:
    """The evidence of :meth:`CheckContext.evidence`."""
    case = exchange.case
    request: Any = dict(case.body) if case.raw_body is None else excerpt(case.raw_body)
    if case.stream or exchange.is_event_stream:
        raw_sse = body_excerpt(exchange, visible=True, secret=secret)
        response = ""
    else:
        raw_sse = ""
        response = body_excerpt(exchange, visible=False, secret=secret)
    if not exchange.body.kept_whole:
        detail = {"body": exchange.body.describe(), **detail}
    if exchange.events_omitted:
        detail = {
            "events": f"{exchange.event_count} events, {exchange.events_omitted} between "
            f"the first {exchange.events_omitted_at} and the last "
            f"{len(exchange.events) - exchange.events_omitted_at} counted, not kept",
            **detail,
        }
    if exchange.error:
        detail = {"transport_error": safe_text(exchange.error, secret), **detail}
    return Evidence(
        label=case.label,
        request=request,
        status=exchange.status,
        response_excerpt=response,
        raw_sse=raw_sse,
        detail=detail,
    )
