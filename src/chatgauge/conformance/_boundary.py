"""The API key taken out of what the endpoint sent, once, as each exchange arrives.

A server may echo the key it was sent (in an error message, in content). Checks quote
endpoint text in their messages and shorten it as they go (``body[:80]``); a key cut there
no longer matches the key, so masking it later would leave a prefix behind. So the key is
masked in the exchange itself, before any check sees it: in the body excerpts, the event
data, the headers, the error text and the framing facts, as the bytes of the key and as its
JSON-escaped forms (a key holding ``"``, ``\\`` or ``/``). A key that is not there leaves the
exchange untouched (the usual case costs one substring search per part), so verdicts on an
endpoint that does not echo the key cannot change.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Final

from chatgauge._models import ChatExchange, TimedEvent
from chatgauge._secret import Secret

MASK: Final = "***"


def _needles(secret: Secret) -> list[str]:
    key = secret.reveal()
    forms = {key, json.dumps(key)[1:-1], json.dumps(key)[1:-1].replace("/", "\\/")}
    return sorted((f for f in forms if f), key=len, reverse=True)


def _mask(text: str, needles: list[str]) -> str:
    for needle in needles:
        text = text.replace(needle, MASK)
    return text


def _mask_bytes(data: bytes, needles: list[bytes]) -> bytes:
    for needle in needles:
        data = data.replace(needle, MASK.encode())
    return data


def safe_exchange(exchange: ChatExchange, secret: Secret | None) -> ChatExchange:
    """``exchange`` with every occurrence of ``secret`` masked (itself when there is none)."""
    if not secret:
        return exchange
    needles = _needles(secret)
    raw_needles = [n.encode() for n in needles]
    changes: dict[str, object] = {}
    if any(n in exchange.raw for n in raw_needles):
        changes["raw"] = _mask_bytes(exchange.raw, raw_needles)
    digest = exchange.digest
    if digest is not None and any(n in digest.tail for n in raw_needles):
        changes["digest"] = replace(digest, tail=_mask_bytes(digest.tail, raw_needles))
    if any(any(n in e.data for n in needles) for e in exchange.events):
        changes["events"] = tuple(_safe_event(e, needles) for e in exchange.events)
    headers = exchange.headers
    if any(any(n in v for n in needles) for v in headers.values()):
        changes["headers"] = {k: _mask(v, needles) for k, v in headers.items()}
    if exchange.error and any(n in exchange.error for n in needles):
        changes["error"] = _mask(exchange.error, needles)
    facts = exchange.framing
    if facts is not None:
        texts = (facts.unterminated_tail, *facts.comments)
        if any(any(n in t for n in needles) for t in texts):
            changes["framing"] = replace(
                facts,
                unterminated_tail=_mask(facts.unterminated_tail, needles),
                comments=tuple(_mask(c, needles) for c in facts.comments),
            )
    return replace(exchange, **changes) if changes else exchange  # type: ignore[arg-type]


def _safe_event(event: TimedEvent, needles: list[str]) -> TimedEvent:
    if not any(n in event.data for n in needles):
        return event
    return replace(event, event=replace(event.event, data=_mask(event.data, needles)))


__all__ = ["MASK", "safe_exchange"]
