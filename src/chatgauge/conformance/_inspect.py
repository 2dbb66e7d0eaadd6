"""Small, total helpers to read exchanges: they never raise on odd payloads."""

from __future__ import annotations

from typing import Any

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatExchange
from chatgauge._secret import Secret
from chatgauge.conformance._budget import DEFAULT_MAX_TOKENS, MAX_N
from chatgauge.results import safe_text

EXCERPT_CHARS = 2000
UNSUPPORTED_CODES = frozenset({"unsupported_parameter", "unsupported_value", "unknown_parameter"})
ELLIPSIS = "…"


def _show_line_ends(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n\n")


def visible_bytes(raw: bytes, limit: int = EXCERPT_CHARS, secret: Secret | None = None) -> str:
    """Raw stream bytes as text with CR and LF shown (``\\r``, ``\\n``): the first and the
    last ``limit // 2`` characters around ``…`` when longer (the end of a stream is where
    it shows how it ended); the key masked before anything is cut."""
    text = safe_text(raw.decode("utf-8", errors="backslashreplace"), secret)
    if len(text) > limit:
        half = max(limit // 2, 1)
        return f"{_show_line_ends(text[:half])}{ELLIPSIS}\n{_show_line_ends(text[-half:])}"
    return _show_line_ends(text)


def excerpt(raw: bytes, limit: int = EXCERPT_CHARS, secret: Secret | None = None) -> str:
    """A body as text: whole up to ``limit`` characters, else its start and its end around
    ``…``; the key masked before anything is cut."""
    text = safe_text(raw.decode("utf-8", errors="replace"), secret)
    if len(text) <= limit:
        return text
    half = max(limit // 2, 1)
    return f"{text[:half]}{ELLIPSIS}{text[-half:]}"


def body_excerpt(
    exchange: ChatExchange,
    *,
    visible: bool,
    limit: int = EXCERPT_CHARS,
    secret: Secret | None = None,
) -> str:
    """An exchange's body as evidence text (:func:`visible_bytes` or :func:`excerpt`).

    A body longer than the client keeps whole shows the start it kept and its kept tail
    around ``…``, and ends with its size and SHA-256 (``[N bytes, sha256 …]``). A key cut in
    two where the kept parts end could not be matched, so with a key the kept head loses its
    last and the kept tail its first ``len(key)`` bytes.
    """
    show = visible_bytes if visible else excerpt
    body = exchange.body
    if body.kept_whole:
        return show(exchange.raw, limit, secret)
    half = max(limit // 2, 1)
    trim = len(secret.reveal()) if secret else 0
    head = show(exchange.raw[: max(len(exchange.raw) - trim, 0)], half, secret)
    tail = show(body.tail[trim:], half, secret)
    head = head.split(ELLIPSIS, 1)[0]
    tail = tail.rsplit(ELLIPSIS, 1)[-1].removeprefix("\n")
    return f"{head}{ELLIPSIS}{tail}\n[{body.describe()}]"


def event_position(exchange: ChatExchange, kept_index: int) -> int:
    """The position in the whole stream of ``exchange.events[kept_index]`` (the events
    between the kept head and the kept tail were only counted, not kept)."""
    if exchange.events_omitted and kept_index >= exchange.events_omitted_at:
        return kept_index + exchange.events_omitted
    return kept_index


def error_code(exchange: ChatExchange) -> str | None:
    """``error.code`` of an error envelope body, when there is one."""
    body = exchange.json_or_none()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None


def is_clean_refusal(exchange: ChatExchange) -> bool:
    """A 4xx error envelope whose code says the feature or parameter is not supported."""
    return (
        exchange.status is not None
        and 400 <= exchange.status < 500
        and error_code(exchange) in UNSUPPORTED_CODES
    )


def stream_payloads(exchange: ChatExchange) -> list[Any]:
    """Every dispatched data payload parsed as JSON (``None`` where it does not parse).

    ``[DONE]`` and anything after it are left out.
    """
    out: list[Any] = []
    for event in exchange.events:
        if event.data == "[DONE]":
            break
        try:
            out.append(parse_json(event.data))
        except ValueError:
            out.append(None)
    return out


def choice_chunks(exchange: ChatExchange) -> list[dict[str, Any]]:
    """The stream's JSON-object chunks that are not error payloads."""
    return [p for p in stream_payloads(exchange) if isinstance(p, dict) and "error" not in p]


def streamed_text(exchange: ChatExchange, index: int = 0) -> str:
    """The content deltas of choice ``index`` concatenated."""
    parts: list[str] = []
    for chunk in choice_chunks(exchange):
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index") == index:
                delta = choice.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
    return "".join(parts)


def streamed_finish_reasons(exchange: ChatExchange) -> dict[int, list[Any]]:
    """Per choice index, every non-null ``finish_reason`` seen, in order."""
    seen: dict[int, list[Any]] = {}
    for chunk in choice_chunks(exchange):
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and isinstance(choice.get("index"), int):
                reason = choice.get("finish_reason")
                if reason is not None:
                    seen.setdefault(choice["index"], []).append(reason)
    return seen


def usage_of(exchange: ChatExchange) -> dict[str, Any] | None:
    """The usage object of a non-streamed body, or of the stream's usage chunk."""
    if exchange.events:
        for chunk in choice_chunks(exchange):
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                return usage
        return None
    body = exchange.json_or_none()
    if isinstance(body, dict) and isinstance(body.get("usage"), dict):
        found: dict[str, Any] = body["usage"]
        return found
    return None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def completion_allowance(body: Any) -> int | None:
    """The most completion tokens a request body allows: ``n`` times its ``max_tokens`` or
    ``max_completion_tokens`` (the larger); ``None`` when it sets neither."""
    if not isinstance(body, dict):
        return None
    limits = [
        c for c in (_count(body.get("max_tokens")), _count(body.get("max_completion_tokens"))) if c
    ]
    if not limits:
        return None
    return max(limits) * (_count(body.get("n")) or 1)


def total_tokens(exchange: ChatExchange) -> int:
    """Tokens the exchange cost, from usage when present, else a rough estimate.

    The estimate (for the budget cap) is about 4 request bytes a token for the prompt and
    16 answer bytes a token for the answer (JSON or SSE framing around each token), the
    answer's share at most what the request allowed (:func:`completion_allowance`; for a
    request that set no limit, such as a malformed body, chatgauge's own per-request bound
    of ``max_tokens`` 16 and ``n`` 3): a body the endpoint padded, or generated past the
    limit (judged by G6), must not use up the run's budget in one go.
    """
    usage = usage_of(exchange)
    if usage is not None:
        total = usage.get("total_tokens")
        if isinstance(total, int) and not isinstance(total, bool):
            return total
    allowance = completion_allowance(exchange.case.body) if exchange.case.raw_body is None else None
    answer = min(exchange.body.size // 16, allowance or DEFAULT_MAX_TOKENS * MAX_N)
    return len(exchange.case.content()) // 4 + answer


def schema_errors(name: str, instance: Any, *, strict: bool) -> list[str]:
    """Validation errors of ``instance`` against the shipped schema ``name``.

    Each error reads ``at $.path: message``; the list is empty when the instance is valid.
    ``strict`` picks the spec-literal tier, otherwise the compat tier.
    """
    from chatgauge.schemas import validator

    found = validator(name, "strict" if strict else "compat").iter_errors(instance)
    out = []
    for error in sorted(found, key=lambda e: [str(p) for p in e.absolute_path]):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append(f"at ${path}: {error.message[:300]}")
    return out
