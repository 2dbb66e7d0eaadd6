"""Every parser of endpoint bytes fails only with its documented error, on any input.

Covers the JSON guard (depth, RecursionError), the exchange's JSON accessors, the load
client's head / Content-Length / chunked parsing, the SSE decoder's bounded facts, the
httpx transport's head scanner, the bounded keepers and the :class:`Limits` value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatgauge import ChatCase, ChatExchange, SSEDecodeError, SSEDecoder, SSEEvent, TimedEvent
from chatgauge._bounded import BodyDigest, BodyKeeper, HeadTailKeeper
from chatgauge._jsonguard import MAX_JSON_DEPTH, JSONTooDeep, parse_json
from chatgauge._limits import KiB, LimitExceeded, Limits, MiB, format_size
from chatgauge._models import BodyNotKept
from chatgauge._sse import OTHER_FIELD_NAMES, SSELineTooLong
from chatgauge._transport import RequestBudget
from chatgauge.loadtests._wire import (
    ChunkedDecoder,
    HttpLimitError,
    HttpProtocolError,
    content_length,
    parse_head,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = "sk-live-0123456789abcdefghijklmnopqrstuv"


# --- the JSON guard ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000, 100_000])
@pytest.mark.parametrize("container", ["array", "object"])
def test_deep_json_is_a_value_error_never_a_recursion_error(depth: int, container: str) -> None:
    text = (
        "[" * depth + "]" * depth if container == "array" else '{"a":' * depth + "1" + "}" * depth
    )
    for data in (text, text.encode()):
        with pytest.raises(JSONTooDeep, match=f"deeper than {MAX_JSON_DEPTH}"):
            parse_json(data)


def test_json_at_the_depth_limit_parses() -> None:
    value = parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    for _ in range(MAX_JSON_DEPTH - 1):
        (value,) = value
    assert value == []


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = json.dumps({"content": "[" * 10_000, "more": {"x": ["{" * 500]}})
    assert parse_json(text)["more"]["x"] == ["{" * 500]


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe\x00garbage",
        "\ufeff{}",  # a BOM in text (in bytes json.loads strips it)
        "1" * 5000,  # past Python's int-from-text limit
        "",
        '{"a": 1',
        '"\\ud800',  # an escape in an unterminated string
        b"\xc3",
    ],
)
def test_malformed_json_is_a_value_error(data: str | bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError is the contract
        parse_json(data)


def test_a_lone_surrogate_escape_is_legal_json() -> None:
    assert parse_json('{"id": "\\ud800"}') == {"id": "\ud800"}


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_parse_json_raises_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_json(data)


# --- the exchange's accessors --------------------------------------------------------------


def exchange_with(
    raw: bytes, events: tuple[str, ...] = (), digest: BodyDigest | None = None
) -> ChatExchange:
    timed = tuple(TimedEvent(SSEEvent(data), 0, 0) for data in events)
    return ChatExchange(
        ChatCase(body={}), "http://x/v1", 200, {}, raw, 0, 0, 0, events=timed, digest=digest
    )


def feed_all(decoder: SSEDecoder | ChunkedDecoder, reads: Iterable[bytes]) -> None:
    for data in reads:
        decoder.feed(data)


def test_exchange_json_accessors_treat_deep_json_as_not_json() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    exchange = exchange_with(deep.encode(), events=('{"a": 1}', deep, "[DONE]"))
    assert exchange.json_or_none() is None
    with pytest.raises(ValueError, match="nested deeper"):
        exchange.json()
    assert exchange.chunks() == [{"a": 1}]
    with pytest.raises(ValueError, match="nested deeper"):
        exchange.events[1].json()


def test_a_body_not_kept_whole_is_never_parsed_from_its_head() -> None:
    digest = BodyDigest(10 * MiB, "0" * 64, kept_whole=False, tail=b"}")
    exchange = exchange_with(b'{"id": "x"}', digest=digest)
    with pytest.raises(BodyNotKept, match="10485760 bytes"):
        exchange.json()
    assert exchange.json_or_none() is None
    assert exchange.body is digest


def test_a_hand_built_exchange_describes_its_raw_body() -> None:
    exchange = exchange_with(b"hello")
    assert exchange.body == BodyDigest(5, hashlib.sha256(b"hello").hexdigest())
    assert (exchange.event_count, exchange.read_count) == (0, 0)


def test_the_exchange_repr_holds_no_endpoint_text() -> None:
    exchange = exchange_with(f"\x1b]0;t\x07{KEY}".encode(), events=(KEY,))
    text = repr(exchange)
    assert KEY not in text
    assert "\x1b" not in text
    assert "body=" in text


# --- the load client's wire parsing --------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 \xb200 OK",  # "²00": isdigit() is true for "²", int() is not
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 99 OK",
        b"HTTP/1.1",
        b"",
        b"\x00\xff\xfe garbage",
        b"HTTP/1.1 200 OK\r\nno colon here",
        f"HTTP/1.1 200 OK\r\nbroken {KEY}".encode(),
        f"{KEY} 200 OK".encode(),
    ],
)
def test_a_bad_head_is_a_protocol_error_that_quotes_nothing(head: bytes) -> None:
    with pytest.raises(HttpProtocolError) as caught:
        parse_head(head)
    assert KEY not in str(caught.value)
    assert all(ch.isprintable() for ch in str(caught.value))
    if KEY.encode() in head:
        assert KEY.encode() in caught.value.received  # whole, for whoever redacts it


@FUZZ
@given(st.binary(max_size=200))
def test_parse_head_raises_only_protocol_errors(tail: bytes) -> None:
    for head in (tail, b"HTTP/1.1 200 OK\r\n" + tail, b"HTTP/1.1 " + tail):
        try:
            status, _ = parse_head(head)
        except HttpProtocolError:
            continue
        assert 0 <= status <= 999


@pytest.mark.parametrize("value", ["\xb2", "9" * 5000, "-1", "1e3", "10, 11", "", "0x10"])
def test_a_bad_content_length_is_a_protocol_error(value: str) -> None:
    with pytest.raises(HttpProtocolError):
        content_length({"content-length": value})


def test_repeated_identical_content_lengths_are_one() -> None:
    assert content_length({"content-length": "10, 10"}) == 10
    assert content_length({"content-length": " 7 "}) == 7


@pytest.mark.parametrize(
    "framed", [b"\xb2\r\nx\r\n", b"f" * 17 + b"\r\n", b"5 5\r\n", b";\r\n", KEY.encode() + b"\r\n"]
)
def test_a_bad_chunk_size_is_a_protocol_error_that_quotes_nothing(framed: bytes) -> None:
    with pytest.raises(HttpProtocolError) as caught:
        ChunkedDecoder().feed(framed)
    assert KEY not in str(caught.value)


@FUZZ
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_the_chunked_decoder_raises_only_protocol_errors(reads: list[bytes]) -> None:
    decoder = ChunkedDecoder()
    try:
        for data in [b"5\r\nhello\r\n", *reads]:
            decoder.feed(data)
    except HttpProtocolError:
        pass


def test_a_chunk_size_line_is_bounded() -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(HttpProtocolError, match="64 KiB"):
        feed_all(decoder, [b"1" * 1024] * 100)


def test_limit_errors_are_transport_errors_with_their_kind() -> None:
    error = HttpLimitError("answer exceeded 1 MiB", limit="max_body_bytes")
    assert (error.kind, error.limit, error.received) == ("limit", "max_body_bytes", b"")


# --- the SSE decoder's bounds ----------------------------------------------------------------


def test_a_line_too_long_is_a_decode_error_and_a_limit() -> None:
    decoder = SSEDecoder(max_line_bytes=1024)
    with pytest.raises(SSELineTooLong) as caught:
        feed_all(decoder, [b"x" * 100] * 20)
    assert isinstance(caught.value, SSEDecodeError)
    assert isinstance(caught.value, LimitExceeded)
    assert caught.value.limit == "max_line_bytes"
    assert str(caught.value).startswith("event-stream line exceeded 1 KiB")


def test_a_long_line_in_tiny_reads_is_measured_exactly() -> None:
    # Multibyte characters cut across reads: the size is the UTF-8 size, exactly at the edge.
    stream = b"data: " + ("é" * 1497).encode() + b"\n\n"  # a line of 6 + 2994 bytes
    decoder = SSEDecoder(max_line_bytes=3000)
    events = [e for i in range(0, len(stream), 7) for e in decoder.feed(stream[i : i + 7])]
    assert events == [SSEEvent("é" * 1497)]
    decoder = SSEDecoder(max_line_bytes=2999)
    with pytest.raises(SSELineTooLong):
        feed_all(decoder, (stream[i : i + 7] for i in range(0, len(stream), 7)))


def test_an_event_of_many_data_lines_is_joined_exactly() -> None:
    lines = [f"l{i}" for i in range(20_000)]
    stream = "".join(f"data: {line}\n" for line in lines).encode() + b"\n"
    decoder = SSEDecoder()
    events = [e for i in range(0, len(stream), 1000) for e in decoder.feed(stream[i : i + 1000])]
    assert events == [SSEEvent("\n".join(lines))]
    assert decoder.facts.multiline_data_events == 1


def test_field_names_are_counted_in_bounded_space() -> None:
    stream = b"".join(f"f{i}: x\n".encode() for i in range(1000)) + b"x" * 500 + b":\n\n"
    decoder = SSEDecoder()
    decoder.feed(stream)
    other = decoder.facts.other_fields
    assert len(other) == 65
    assert other[OTHER_FIELD_NAMES] == 1000 - 64 + 1
    assert sum(other.values()) == 1001


def test_retry_values_and_comments_are_kept_bounded() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 5\n" * 1000 + b":" + b"c" * 5000 + b"\n\n")
    facts = decoder.facts
    assert len(facts.retry_values) == 100
    assert decoder.retry_ms == 5
    assert facts.comments == ("c" * 1024,)


def test_the_unterminated_tail_is_bounded_and_shows_its_end() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"".join(f"data: {i}\n".encode() for i in range(10_000)) + b"data: " + b"z" * 9000)
    decoder.close()
    tail = decoder.facts.unterminated_tail.split("\n")
    assert tail[0] == "…"
    assert tail[1:-1] == [f"data: {i}" for i in range(10_000 - 64, 10_000)]
    assert tail[-1] == "data: " + "z" * 2042 + "…" + "z" * 2048


# --- the httpx transport's head scanner --------------------------------------------------------


def scan(limits: Limits, *reads: bytes) -> RequestBudget:
    budget = RequestBudget(limits, 10.0)
    budget.request_written()
    for data in reads:
        budget.received(data)
    return budget


HINT = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\r\n\r\n"  # a body of two CRLFs


def test_the_scanner_counts_interim_heads_however_they_are_split() -> None:
    stream = HINT * 3 + FINAL + HINT * 50  # the body after the final head is not scanned
    for size in (1, 2, 3, 7, len(stream)):
        budget = scan(Limits(), *(stream[i : i + size] for i in range(0, len(stream), size)))
        assert budget.interim_responses == 3


def test_the_scanner_accepts_bare_lf_heads_and_stops_at_101() -> None:
    assert scan(Limits(), b"HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\n\n").interim_responses == 1
    assert scan(Limits(), b"HTTP/1.1 101 Switching\r\n\r\n" + HINT * 20).interim_responses == 0


def test_the_scanner_enforces_interim_and_head_limits() -> None:
    with pytest.raises(LimitExceeded) as caught:
        scan(Limits(max_interim_responses=2), HINT * 3)
    assert (caught.value.limit, caught.value.kind) == ("max_interim_responses", "limit")
    with pytest.raises(LimitExceeded) as caught:
        scan(Limits(max_header_bytes=1024), b"HTTP/1.1 200 OK\r\nX: " + b"a" * 2000)
    assert caught.value.limit == "max_header_bytes"
    with pytest.raises(LimitExceeded):
        scan(Limits(max_header_bytes=64), b"HTTP/1.1 200 OK\r\nX: " + b"a" * 60 + b"\r\n\r\n")


@FUZZ
@given(st.lists(st.binary(max_size=60), max_size=10))
def test_the_scanner_raises_only_limit_errors(reads: list[bytes]) -> None:
    with contextlib.suppress(LimitExceeded):
        scan(Limits(max_header_bytes=128, max_interim_responses=1), *reads)


def test_a_budget_past_its_deadline_refuses_to_wait() -> None:
    budget = RequestBudget(Limits(), 0.000_001)
    time.sleep(0.01)
    with pytest.raises(LimitExceeded) as caught:
        budget.wait(5.0)
    assert (caught.value.kind, caught.value.limit) == ("timeout", "total_timeout_s")
    assert str(caught.value) == "no complete answer within 1e-06 s (total deadline)"
    fresh = RequestBudget(Limits(), 100.0)
    assert fresh.wait(5.0) == (5.0, False)
    wait, cut = fresh.wait(None)
    assert cut
    assert 99 < wait <= 100


# --- the keepers ---------------------------------------------------------------------------------


@FUZZ
@given(st.lists(st.binary(max_size=50), max_size=40), st.integers(1, 300), st.integers(1, 40))
def test_the_body_keeper_keeps_whole_or_head_and_tail(
    reads: list[bytes], keep: int, excerpt: int
) -> None:
    keeper = BodyKeeper(keep, excerpt)
    for data in reads:
        keeper.add(data)
    body = b"".join(reads)
    digest = keeper.digest()
    assert (digest.size, digest.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    if len(body) <= keep:
        assert (digest.kept_whole, keeper.raw(), digest.tail) == (True, body, b"")
    else:
        cut = min(excerpt, keep)
        assert not digest.kept_whole
        assert keeper.raw() == body[:cut]
        assert digest.tail == body[cut:][-cut:]


@given(st.integers(0, 60), st.integers(1, 10), st.integers(0, 10))
def test_the_head_tail_keeper_keeps_the_first_and_the_last(
    count: int, head: int, tail: int
) -> None:
    keeper: HeadTailKeeper[int] = HeadTailKeeper(head, tail)
    keeper.extend(range(count))
    kept = keeper.kept()
    first = list(range(min(count, head)))
    last = list(range(max(count - tail, len(first)), count)) if tail else []
    assert list(kept) == first + last
    assert keeper.count == count
    assert keeper.omitted == count - len(kept)


# --- the limits ------------------------------------------------------------------------------


def test_limits_defaults_and_descriptions() -> None:
    limits = Limits()
    assert limits.describe("max_body_bytes") == "16 MiB"
    assert limits.describe("max_header_bytes") == "64 KiB"
    assert limits.describe("total_timeout_s") == "120 s"
    assert limits.describe("max_events") == "100000"
    assert [format_size(n) for n in (1, 900, 1536, 16 * MiB, 3 * 1024 * MiB)] == [
        "1 byte",
        "900 bytes",
        "1.5 KiB",
        "16 MiB",
        "3 GiB",
    ]
    assert 64 * KiB == limits.max_header_bytes


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_timeout_s", 0),
        ("total_timeout_s", float("inf")),
        ("total_timeout_s", float("nan")),
        ("total_timeout_s", True),
        ("max_body_bytes", 0),
        ("max_events", 1.5),
        ("keep_events", 0),
        ("max_interim_responses", -1),
    ],
)
def test_limits_refuse_values_that_bound_nothing(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: value})  # type: ignore[arg-type]


def test_zero_interim_responses_and_no_tail_are_allowed() -> None:
    limits = Limits(max_interim_responses=0, keep_tail_events=0)
    assert (limits.max_interim_responses, limits.keep_tail_events) == (0, 0)
