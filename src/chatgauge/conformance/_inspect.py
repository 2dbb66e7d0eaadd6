"""Small, total helpers to read exchanges: they never raise on odd payloads."""

from __future__ import annotations

import json
from typing import Any

from chatgauge._models import ChatExchange

EXCERPT_CHARS = 2000
UNSUPPORTED_CODES = frozenset({"unsupported_parameter", "unsupported_value", "unknown_parameter"})


def visible_bytes(raw: bytes, limit: int = EXCERPT_CHARS) -> str:
    """Raw stream bytes as text with CR and LF shown (``\\r``, ``\\n``), cut at ``limit``."""
    text = raw[:limit].decode("utf-8", errors="backslashreplace")
    text = text.replace("\r", "\\r").replace("\n", "\\n\n")
    return text + ("…" if len(raw) > limit else "")


def excerpt(raw: bytes, limit: int = EXCERPT_CHARS) -> str:
    """The start of a body as text."""
    text = raw[:limit].decode("utf-8", errors="replace")
    return text + ("…" if len(raw) > limit else "")


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
            out.append(json.loads(event.data))
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


def total_tokens(exchange: ChatExchange) -> int:
    """Tokens the exchange cost, from usage when present, else a rough estimate."""
    usage = usage_of(exchange)
    if usage is not None:
        total = usage.get("total_tokens")
        if isinstance(total, int) and not isinstance(total, bool):
            return total
    # No usage reported: estimate ~4 bytes a token so the cap still bites.
    return len(exchange.case.content()) // 4 + len(exchange.raw) // 16


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
