"""The one-token request before a run, and what its answer says about the settings.

A run whose every request goes to the wrong place judges nothing, and worse, some rules
hold vacuously on a wall of 404s (any 4xx satisfies "invalid requests are refused"). So
before the checks, one tiny valid request is sent, and an answer that shows a
misconfiguration stops the run with one line that says what to change
(:class:`ConfigurationError`, exit 2 for ``chatgauge check``):

- no HTTP answer at all: :class:`EndpointUnreachable` (wrong URL, server down, a limit
  crossed before any status, silence past the timeout);
- an answer 4xx while ``{base_url}/models`` lists the models served and the configured
  model is not among them: the model is unknown (the message lists the served ones);
- ``404`` on the chat path: when ``{base_url}/v1/models`` answers, the base URL lacks its
  ``/v1`` ("did you mean --base-url .../v1"); otherwise the base URL is not an API root.

Other answers let the run go on with a notice: a 401 or 403 (the A4 checks judge auth), a
5xx or an unfinished 200 (the checks judge those, or skip with the reason).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from chatgauge._limits import LimitName
from chatgauge._models import ChatCase, ChatExchange
from chatgauge.conformance._boundary import safe_exchange
from chatgauge.conformance._budget import BudgetExhausted
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._results import CheckSkipped
from chatgauge.conformance._settings import ConfigurationError
from chatgauge.results import safe_text

Notice = Callable[[str], None]
Getter = Callable[[str], ChatExchange]
"""GET ``{base_url}{path}`` and return the exchange (``ChatClient.get``)."""

LIMIT_OPTIONS: Final[dict[LimitName, str]] = {
    "total_timeout_s": "total-timeout",
    "max_body_bytes": "max-body-bytes",
    "max_events": "max-events",
    "max_line_bytes": "max-line-bytes",
    "max_interim_responses": "max-interim-responses",
    "max_header_bytes": "max-header-bytes",
}
"""The option (flag stem) that raises each limit."""
MODELS_LISTED: Final = 12


class EndpointUnreachable(ConfigurationError):
    """The preflight request got no HTTP answer at all (wrong URL, server down)."""


def limit_hint(exchange: ChatExchange, flag_prefix: str = "--") -> str:
    """``" (raise --max-body-bytes)"`` for an exchange a limit ended, else ``""``."""
    if exchange.limit is None:
        if exchange.error_kind == "timeout":
            flags = f"{flag_prefix}timeout or {flag_prefix}total-timeout"
            return f" (raise {flags} for a slow endpoint)"
        return ""
    return f" (raise {flag_prefix}{LIMIT_OPTIONS[exchange.limit]})"


def served_models(get: Getter, path: str = "/models") -> list[str] | None:
    """The model ids ``GET {base_url}{path}`` lists, ``None`` when it gives no list."""
    exchange = get(path)
    if exchange.status != 200 or exchange.error_kind is not None:
        return None
    body = exchange.json_or_none()
    entries = body.get("data") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return None
    return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


def _listed(models: list[str], ctx: CheckContext) -> str:
    shown = ", ".join(safe_text(m, ctx.secret, limit=80) for m in models[:MODELS_LISTED])
    more = len(models) - MODELS_LISTED
    return shown + (f" and {more} more" if more > 0 else "") if models else "no model"


def run_preflight(
    ctx: CheckContext,
    get: Getter,
    endpoint: str,
    *,
    on_notice: Notice,
    flag_prefix: str = "--",
) -> ChatExchange | None:
    """Send the one-token request and judge its answer (module docstring); return it
    (``None`` when the run could not send it: its deadline or budget, which the run then
    reports as the reason every check went unjudged)."""
    try:
        exchange = ctx.send(ChatCase(body=ctx.base_body(max_tokens=1), label="preflight"))
    except CheckSkipped as exc:
        on_notice(f"the preflight request got no usable answer: {exc.message}")
        return None
    url = f"{endpoint}/chat/completions"
    status = exchange.status
    if status is None:
        hint = limit_hint(exchange, flag_prefix)
        raise EndpointUnreachable(
            f"cannot reach {url} ({exchange.error_kind}: {exchange.error}){hint}; "
            "check the URL and that the server is running"
        )
    if 400 <= status < 500 and status not in (401, 403, 429):
        _refused(ctx, get, endpoint, exchange, flag_prefix)
    if status == 200 and exchange.error_kind is not None:
        on_notice(
            f"a one-token request got HTTP 200 but no complete answer ({exchange.error})"
            f"{limit_hint(exchange, flag_prefix)}; checks that need one will be skipped"
        )
    elif status != 200:
        on_notice(
            f"a minimal request got HTTP {status}; checks that need an answer will be skipped "
            f"(check {flag_prefix}model and the API key)"
        )
    return exchange


def _counted_get(ctx: CheckContext, get: Getter) -> Getter:
    def counted(path: str) -> ChatExchange:
        ctx.budget.reserve_request()  # a GET is a request of the run too
        return safe_exchange(get(path), ctx.secret)

    return counted


def _refused(
    ctx: CheckContext, get: Getter, endpoint: str, exchange: ChatExchange, prefix: str
) -> None:
    """Raise :class:`ConfigurationError` when a refusal shows a misconfiguration."""
    counted = _counted_get(ctx, get)
    model = ctx.model
    try:
        models = served_models(counted)
        if models is not None and model not in models:
            raise ConfigurationError(
                f"unknown model {safe_text(model, limit=80)!r}: {endpoint}/models lists "
                f"{_listed(models, ctx)} (pass one with {prefix}model)"
            )
        if exchange.status != 404:
            return
        below = endpoint.rstrip("/").endswith("/v1") or served_models(counted, "/v1/models") is None
    except BudgetExhausted:
        return  # no request left to find out why: the run goes on and says what it could
    if not below:
        raise ConfigurationError(
            f"POST {endpoint}/chat/completions answered HTTP 404, but {endpoint}/v1/models "
            f"answers: did you mean {prefix}base-url {endpoint}/v1 ?"
        )
    if models is None:
        raise ConfigurationError(
            f"POST {endpoint}/chat/completions answered HTTP 404: {endpoint} does not look "
            f"like the API root (an OpenAI-compatible {prefix}base-url usually ends in /v1)"
        )


__all__ = [
    "LIMIT_OPTIONS",
    "EndpointUnreachable",
    "Getter",
    "limit_hint",
    "run_preflight",
    "served_models",
]
