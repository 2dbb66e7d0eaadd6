"""Group D: SSE framing, judged on the bytes as the endpoint sent them.

The facts come from chatgauge's own WHATWG decoder (never from an SDK), so a stream that
a browser's EventSource would read correctly is never failed here for being unusual.
"""

from __future__ import annotations

from chatgauge._jsonguard import parse_json
from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._inspect import event_position
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import CheckFailed, CheckSkipped, Severity, SkipKind, Tier

# Streams every framing check looks at: with and without the usage chunk.
STREAM_PROBES = ("plain-stream", "stream-no-usage")
# The WHATWG Encoding Standard's labels of UTF-8 (compared without letter case).
UTF8_LABELS = frozenset(
    {"utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"}
)


def _streams(ctx: CheckContext) -> list[ChatExchange]:
    """The stream probes answered with 200 (a check judges those that were)."""
    return ctx.answered_probes(*STREAM_PROBES)


def _decoded(ctx: CheckContext) -> list[ChatExchange]:
    """The answered streams that sent at least one byte to decode; skip when none did."""
    streams = _streams(ctx)
    found = [ex for ex in streams if ex.framing is not None and ex.body.size > 0]
    if not found:
        raise CheckSkipped(
            "no stream sent a byte to judge (judged by D3-done-last)",
            *(ctx.evidence(ex) for ex in streams),
        )
    return found


def content_type_parameters(content_type: str) -> list[tuple[str, str]]:
    """The ``name=value`` parameters of a media type: names lower-cased, quotes removed."""
    _, _, rest = content_type.partition(";")
    found = []
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            found.append((name.strip().lower(), value.strip().strip('"')))
    return found


@check(
    "D1-content-type",
    "Streams are served as text/event-stream",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref="WHATWG HTML §9.2 text/event-stream",
)
def content_type(ctx: CheckContext) -> str | None:
    """A streamed response declares ``Content-Type: text/event-stream`` (parameters such
    as ``charset=utf-8`` are tolerated here and reported by D1-content-type-params)."""
    for exchange in _streams(ctx):
        if not exchange.is_event_stream:
            raise CheckFailed(
                f"streamed response has Content-Type {exchange.content_type!r}, "
                "not text/event-stream",
                ctx.evidence(exchange),
            )
    return None


@check(
    "D1-content-type-params",
    "A charset on the event-stream content type is UTF-8",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="WHATWG HTML §9.2 and the text/event-stream registration",
)
def content_type_params(ctx: CheckContext) -> str | None:
    """A ``charset`` parameter on the stream's ``Content-Type``, when there is one, names
    UTF-8: ``text/event-stream; charset=utf-8`` is what api.openai.com sends, and the
    media type's registration allows that value only. An event stream is always UTF-8, but
    clients that read it as text through their HTTP library (httpx ``iter_lines``, requests
    ``iter_lines(decode_unicode=True)``) decode it with the declared charset, so another
    one turns every non-ASCII character into mojibake. Other parameters are noted."""
    streams = [ex for ex in _streams(ctx) if ex.is_event_stream]
    if not streams:
        raise CheckSkipped(
            "no stream was declared text/event-stream (judged by D1-content-type)",
            kind=SkipKind.ENDPOINT,
        )
    others: set[str] = set()
    for exchange in streams:
        for name, value in content_type_parameters(exchange.content_type):
            if name == "charset" and value.lower() not in UTF8_LABELS:
                raise CheckFailed(
                    f"the stream declares charset {value!r} ({exchange.content_type!r}); "
                    "its bytes are UTF-8",
                    ctx.evidence(exchange, content_type=exchange.content_type),
                )
            if name != "charset":
                others.add(name)
    types = sorted({ex.content_type for ex in streams})
    note = f"; other parameters ignored: {', '.join(sorted(others))}" if others else ""
    return f"Content-Type {', '.join(map(repr, types))}{note}"


@check(
    "D2-json-payloads",
    "Every data payload is one JSON object",
    tier=Tier.SPEC,
    severity=Severity.CRITICAL,
    spec_ref="CreateChatCompletionStreamResponse",
)
def json_payloads(ctx: CheckContext) -> str | None:
    """Every dispatched ``data`` payload other than ``[DONE]`` is exactly one JSON object
    (not an array, not a bare value, not two objects, not text)."""
    judged = 0
    for exchange in _streams(ctx):
        for position, event in enumerate(exchange.events):
            judged += 1
            if event.data == "[DONE]":
                continue
            try:
                value = parse_json(event.data)
            except ValueError as exc:
                position = event_position(exchange, position)
                raise CheckFailed(
                    f"event {position} is not JSON ({exc}): {event.data[:200]!r}",
                    ctx.evidence(exchange, event_index=position),
                ) from None
            if not isinstance(value, dict):
                position = event_position(exchange, position)
                raise CheckFailed(
                    f"event {position} is JSON but not an object: {event.data[:200]!r}",
                    ctx.evidence(exchange, event_index=position),
                )
    if not judged:
        raise CheckSkipped("no stream dispatched an event (judged by D3-done-last)")
    return f"{judged} events judged"


@check(
    "D3-done-last",
    "Exactly one data: [DONE], as the last event",
    tier=Tier.DEFACTO,
    severity=Severity.MAJOR,
    spec_ref="OpenAI API reference: streaming",
)
def done_last(ctx: CheckContext) -> str | None:
    """The stream ends with exactly one ``data: [DONE]`` event, dispatched by its blank
    line, and nothing follows it: no second ``[DONE]``, no further event or data."""
    for exchange in _streams(ctx):
        data = [e.data for e in exchange.events]
        done_at = [i for i, d in enumerate(data) if d == "[DONE]"]
        tail = exchange.framing.unterminated_tail if exchange.framing else ""
        if not done_at:
            hint = (
                " (a final [DONE] arrived without its closing blank line)"
                if ("[DONE]" in tail)
                else ""
            )
            raise CheckFailed(f"the stream never dispatched [DONE]{hint}", ctx.evidence(exchange))
        if len(done_at) > 1:
            raise CheckFailed(f"[DONE] was sent {len(done_at)} times", ctx.evidence(exchange))
        if done_at[0] != len(data) - 1:
            after = data[done_at[0] + 1]
            following = exchange.event_count - 1 - event_position(exchange, done_at[0])
            raise CheckFailed(
                f"{following} event(s) followed [DONE], first: {after[:120]!r}",
                ctx.evidence(exchange),
            )
        if tail.strip():
            raise CheckFailed(
                f"data followed [DONE] without being dispatched: {tail[:120]!r}",
                ctx.evidence(exchange),
            )
    return None


def _facts_warning(ctx: CheckContext, what: str, count_of: str) -> str | None:
    for exchange in _decoded(ctx):
        facts = exchange.framing
        if facts is not None and getattr(facts, count_of):
            raise CheckFailed(what.format(getattr(facts, count_of)), ctx.evidence(exchange))
    return None


@check(
    "D4-data-space",
    "A space follows data:",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="openai-python#498",
)
def data_space(ctx: CheckContext) -> str | None:
    """``data:`` is followed by one space, as OpenAI sends it. Without it the stream is
    valid, but hand-written parsers that strip the six characters ``data: `` break."""
    return _facts_warning(
        ctx, "{} data line(s) without a space after the colon", "data_without_space"
    )


@check(
    "D4-multiline-data",
    "Each payload on one data: line",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="WHATWG HTML §9.2.6",
)
def multiline_data(ctx: CheckContext) -> str | None:
    """Each JSON payload is sent on a single ``data:`` line. Splitting it over several
    lines is valid (they join with a newline) but line-at-a-time parsers break."""
    return _facts_warning(
        ctx, "{} event(s) split over several data: lines", "multiline_data_events"
    )


@check(
    "D4-other-fields",
    "Only data: fields",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="openai-python#2722",
)
def other_fields(ctx: CheckContext) -> str | None:
    """The stream uses only ``data:`` fields. ``event:``, ``id:`` and ``retry:`` are
    valid, but some clients mis-handle them (an ``event:`` line is taken by
    openai-python as a named event)."""
    for exchange in _decoded(ctx):
        facts = exchange.framing
        if facts is not None and facts.other_fields:
            names = ", ".join(f"{k} x{v}" for k, v in sorted(facts.other_fields.items()))
            raise CheckFailed(f"fields other than data: {names}", ctx.evidence(exchange))
    return None


@check(
    "D4-comment-after-id",
    "No comment after an id: field",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="openai-python#2722, #3833",
)
def comment_after_id(ctx: CheckContext) -> str | None:
    """No comment line (keep-alive) follows an ``id:`` field: the combination is valid,
    but makes openai-python v3 yield an empty event and crash."""
    return _facts_warning(ctx, "{} comment(s) after an id: field", "comments_after_id")


@check(
    "D4-bom",
    "No byte-order mark",
    tier=Tier.INTEROP,
    severity=Severity.MINOR,
    spec_ref="WHATWG HTML §9.2.6",
)
def bom(ctx: CheckContext) -> str | None:
    """The stream does not start with a UTF-8 byte-order mark: a conforming parser strips
    one, but many hand-written ones then fail to see the first ``data:``."""
    for exchange in _decoded(ctx):
        if exchange.framing is not None and exchange.framing.bom:
            raise CheckFailed("the stream starts with a byte-order mark", ctx.evidence(exchange))
    return None


@check(
    "D2-valid-utf8",
    "The stream is valid UTF-8",
    tier=Tier.SPEC,
    severity=Severity.MAJOR,
    spec_ref="WHATWG HTML §9.2.6",
)
def valid_utf8(ctx: CheckContext) -> str | None:
    """An event stream is UTF-8; invalid byte sequences are replaced by U+FFFD by every
    conforming parser, so the text the client sees differs from what was meant."""
    for exchange in _decoded(ctx):
        if exchange.framing is not None and exchange.framing.invalid_utf8:
            raise CheckFailed("the stream holds invalid UTF-8 bytes", ctx.evidence(exchange))
    return None
