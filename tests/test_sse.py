"""The SSE decoder against the WHATWG event-stream rules, example by example and by property."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatgauge import FramingFacts, SSEDecodeError, SSEDecoder, SSEEvent

Decoded = tuple[list[SSEEvent], FramingFacts, int | None, str]

PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def reads(stream: bytes, cuts: Sequence[int]) -> Iterator[bytes]:
    """``stream`` cut at the given offsets (any order, repeats give empty reads)."""
    start = 0
    for cut in sorted(cuts):
        yield stream[start:cut]
        start = cut
    yield stream[start:]


def decode(chunks: Sequence[bytes] | Iterator[bytes], **options: int) -> Decoded:
    """Feed every read, then close; everything observable about the decoder afterwards."""
    decoder = SSEDecoder(**options)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.close()
    return events, decoder.facts, decoder.retry_ms, decoder.last_event_id


def events_of(*chunks: bytes) -> list[SSEEvent]:
    return decode(chunks)[0]


def facts_of(*chunks: bytes) -> FramingFacts:
    return decode(chunks)[1]


def one_byte_reads(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


# --- WHATWG examples, in our own bytes -------------------------------------------------------


def test_data_lines_join_with_newline_into_one_event() -> None:
    stream = b"data: ACME\ndata: -1.25\ndata: 7\n\n"
    assert events_of(stream) == [SSEEvent("ACME\n-1.25\n7")]
    assert facts_of(stream).multiline_data_events == 1


def test_comment_then_id_then_id_reset_and_two_leading_spaces() -> None:
    stream = b": warming up\n\ndata: alpha\nid: 41\n\ndata:beta\nid\n\ndata:  gamma\n\n"
    assert events_of(stream) == [
        SSEEvent("alpha", last_event_id="41"),
        SSEEvent("beta", last_event_id=""),
        SSEEvent(" gamma", last_event_id=""),
    ]
    facts = facts_of(stream)
    assert facts.comments == (" warming up",)
    assert facts.empty_dispatches == 1


def test_bare_data_fields_give_empty_and_newline_events_and_the_tail_is_dropped() -> None:
    stream = b"data\n\ndata\ndata\n\ndata:"
    assert events_of(stream) == [SSEEvent(""), SSEEvent("\n")]
    assert facts_of(stream).unterminated_tail == "data:"


def test_space_after_colon_is_optional() -> None:
    stream = b"data:same\n\ndata: same\n\n"
    assert events_of(stream) == [SSEEvent("same"), SSEEvent("same")]
    facts = facts_of(stream)
    assert facts.fields_without_space == 1
    assert facts.data_without_space == 1


def test_extra_blank_lines_dispatch_nothing() -> None:
    stream = b"\n\ndata: one\n\n\n\ndata: two\n\n"
    assert events_of(stream) == [SSEEvent("one"), SSEEvent("two")]
    # two blank lines before "one", two after the one that dispatched it
    assert facts_of(stream).empty_dispatches == 4


# --- line ends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "style"),
    [
        (b"data: a\n\ndata: b\n\n", "LF"),
        (b"data: a\r\n\r\ndata: b\r\n\r\n", "CRLF"),
        (b"data: a\r\rdata: b\r\r", "CR"),
    ],
)
def test_each_line_end_style_frames_the_same_events(stream: bytes, style: str) -> None:
    assert events_of(stream) == [SSEEvent("a"), SSEEvent("b")]
    endings = {"LF": 0, "CRLF": 0, "CR": 0, style: 4}
    assert dict(facts_of(stream).line_endings) == endings


def test_cr_at_end_of_read_and_lf_at_start_of_next_are_one_line_end() -> None:
    assert events_of(b"data: a\r", b"\n\r", b"\n") == [SSEEvent("a")]
    assert dict(facts_of(b"data: a\r", b"\n\r", b"\n").line_endings) == {
        "LF": 0,
        "CRLF": 2,
        "CR": 0,
    }


def test_empty_read_between_cr_and_lf_keeps_them_together() -> None:
    events, facts, _, _ = decode([b"data: a\r", b"", b"\n\r", b"", b"\n"])
    assert events == [SSEEvent("a")]
    assert dict(facts.line_endings) == {"LF": 0, "CRLF": 2, "CR": 0}
    assert facts.empty_dispatches == 0


def test_cr_then_lf_in_separate_reads_is_not_a_blank_line() -> None:
    # Were the CR and the LF two line ends, the blank line would dispatch "a" early
    # and "b" would be a second event.
    assert events_of(b"data: a\r", b"\ndata: b\r\n\r\n") == [SSEEvent("a\nb")]


def test_cr_held_at_end_of_read_then_a_letter_is_a_lone_cr() -> None:
    assert events_of(b"data: a\r", b"\r", b"data: b\r\r") == [SSEEvent("a"), SSEEvent("b")]


def test_pending_cr_at_eof_ends_its_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\r") == []
    assert decoder.close() == [SSEEvent("x")]
    assert decoder.facts.unterminated_tail == ""


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_unicode_line_breaks_are_data_characters(separator: str) -> None:
    stream = f"data: left{separator}right\n\n".encode()
    assert events_of(stream) == [SSEEvent(f"left{separator}right")]


# --- BOM and UTF-8 -----------------------------------------------------------------------


def test_leading_bom_is_stripped_once() -> None:
    bom = "\ufeff".encode()
    stream = bom + bom + b"data: x\n\n"
    # The second BOM is a character of the first line's field name: an unknown field.
    assert events_of(stream) == []
    facts = facts_of(stream)
    assert facts.bom
    assert dict(facts.other_fields) == {"\ufeffdata": 1}


def test_bom_split_across_reads_is_still_stripped() -> None:
    assert events_of(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [SSEEvent("x")]
    assert facts_of(b"\xef", b"\xbb", b"\xbfdata: x\n\n").bom


def test_bom_later_in_the_stream_is_kept() -> None:
    stream = "data: a\n\ndata: \ufeffb\n\n".encode()
    assert events_of(stream) == [SSEEvent("a"), SSEEvent("\ufeffb")]
    assert not facts_of(stream).bom


def test_multibyte_character_split_across_reads() -> None:
    stream = "data: é€😀\n\n".encode()
    assert events_of(*one_byte_reads(stream)) == [SSEEvent("é€😀")]
    assert not facts_of(*one_byte_reads(stream)).invalid_utf8


@pytest.mark.parametrize(
    "bad", [b"\xff", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98"], ids=repr
)
def test_invalid_utf8_becomes_replacement_character(bad: bytes) -> None:
    stream = b"data: <" + bad + b">\n\n"
    [event] = events_of(stream)
    assert event.data.startswith("<\ufffd")
    assert event.data.endswith(">")
    assert facts_of(stream).invalid_utf8


def test_truncated_character_at_eof_is_invalid() -> None:
    assert facts_of(b"data: x\n\n\xe2\x82").invalid_utf8
    assert facts_of(b"data: x\n\n\xe2\x82").unterminated_tail == "\ufffd"


def test_genuine_replacement_character_is_not_invalid_utf8() -> None:
    stream = "data: \ufffd\n\n".encode()
    assert events_of(stream) == [SSEEvent("\ufffd")]
    assert not facts_of(stream).invalid_utf8


# --- fields ------------------------------------------------------------------------------


def test_event_type_applies_to_one_event_only() -> None:
    stream = b"event: ping\ndata: 1\n\ndata: 2\n\nevent: lonely\n\ndata: 3\n\n"
    assert events_of(stream) == [SSEEvent("1", "ping"), SSEEvent("2"), SSEEvent("3")]


def test_id_persists_across_events_and_id_with_nul_is_ignored() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 5\ndata: a\n\ndata: b\n\nid: 6\x007\ndata: c\n\n")
    assert [e.last_event_id for e in events] == ["5", "5", "5"]
    assert decoder.last_event_id == "5"
    assert dict(decoder.facts.other_fields) == {"id": 2}


def test_id_without_data_still_sets_the_last_event_id() -> None:
    assert events_of(b"id: 9\n\ndata: x\n\n") == [SSEEvent("x", last_event_id="9")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"retry: 1500", 1500),
        (b"retry:250", 250),
        (b"retry: 000123", 123),
        (b"retry: 0", 0),
        (b"retry: 12a", None),
        (b"retry: -5", None),
        (b"retry: 1.5", None),
        (b"retry: ", None),
        (b"retry:  12", None),
        (b"retry", None),
        ("retry: \u0661\u0662".encode(), None),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_retry_only_when_all_ascii_digits(line: bytes, expected: int | None) -> None:
    events, facts, retry_ms, _ = decode([line + b"\n\n"])
    assert retry_ms == expected
    assert facts.retry_values == (() if expected is None else (expected,))
    assert events == []


def test_last_valid_retry_wins_and_all_are_recorded() -> None:
    _, facts, retry_ms, _ = decode([b"retry: 10\nretry: x\nretry: 20\n\n"])
    assert retry_ms == 20
    assert facts.retry_values == (10, 20)


def test_huge_retry_is_saturated_not_an_error() -> None:
    _, facts, retry_ms, _ = decode([b"retry: " + b"9" * 10_000 + b"\n\n"])
    assert retry_ms == 10**4300 - 1
    assert facts.retry_values == (10**4300 - 1,)


def test_unknown_fields_are_ignored_but_counted() -> None:
    stream = b"foo: 1\nDATA: 2\ndata : 3\ndata: 4\nevent: e\n\n"
    assert events_of(stream) == [SSEEvent("4", "e")]
    assert dict(facts_of(stream).other_fields) == {"foo": 1, "DATA": 1, "data ": 1, "event": 1}


def test_only_the_first_colon_separates_name_and_value() -> None:
    assert events_of(b'data: {"a": "b:c"}\n\n') == [SSEEvent('{"a": "b:c"}')]


def test_comments_are_recorded_and_counted() -> None:
    stream = b":\n: ping\n" + b"".join(b":%d\n" % i for i in range(30)) + b"data: x\n\n"
    facts = facts_of(stream)
    assert events_of(stream) == [SSEEvent("x")]
    assert facts.comment_count == 32
    assert len(facts.comments) == 20
    assert facts.comments[:3] == ("", " ping", "0")
    assert facts.comments_after_id == 0


def test_comments_after_an_id_are_counted() -> None:
    stream = b": before\nid: 1\ndata: a\n\n: after\n: again\ndata: b\n\n"
    assert facts_of(stream).comments_after_id == 2


def test_fields_without_space_count_only_non_empty_values() -> None:
    stream = b'data:{"x":1}\nevent:e\nid:\ndata:\ndata: y\n\n'
    facts = facts_of(stream)
    assert facts.fields_without_space == 2
    assert facts.data_without_space == 1


# --- dispatch and EOF --------------------------------------------------------------------


def test_blank_line_with_empty_data_buffer_resets_the_event_type() -> None:
    assert events_of(b"event: x\n\ndata: y\n\n") == [SSEEvent("y", "message")]


def test_unterminated_final_event_is_discarded_and_recorded() -> None:
    stream = b"data: a\n\ndata: [DONE]\n"
    assert events_of(stream) == [SSEEvent("a")]
    assert facts_of(stream).unterminated_tail == "data: [DONE]\n"


def test_partial_last_line_is_discarded_and_recorded() -> None:
    stream = b"data: a\n\n: note\r\ndata: par"
    assert events_of(stream) == [SSEEvent("a")]
    assert facts_of(stream).unterminated_tail == ": note\ndata: par"


def test_clean_end_leaves_no_tail() -> None:
    assert facts_of(b"data: a\n\n").unterminated_tail == ""
    assert facts_of(b"").unterminated_tail == ""


def test_events_come_out_of_the_read_that_completes_them() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b\n\ndata: c") == [SSEEvent("a"), SSEEvent("b")]
    assert decoder.feed(b"\n\n") == [SSEEvent("c")]
    assert decoder.close() == []


def test_bytes_seen_counts_every_byte_fed() -> None:
    stream = b"\xef\xbb\xbfdata: x\r\n\r\n\xe2"
    assert facts_of(*one_byte_reads(stream)).bytes_seen == len(stream)


def test_facts_are_an_immutable_snapshot() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n")
    before = decoder.facts
    decoder.feed(b"foo: 1\n")
    assert before.line_endings["LF"] == 2
    assert dict(before.other_fields) == {}
    assert isinstance(before.line_endings, MappingProxyType)
    assert decoder.facts.line_endings["LF"] == 3


# --- errors ------------------------------------------------------------------------------


def test_feed_after_close_raises() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"data: x\n\n")
    assert decoder.close() == []


def events_of_limited(stream: bytes, limit: int) -> list[SSEEvent]:
    return decode([stream], max_line_bytes=limit)[0]


def test_line_at_the_limit_is_accepted() -> None:
    assert events_of_limited(b"data: 1234\n\n", 10) == [SSEEvent("1234")]


@pytest.mark.parametrize(
    "stream",
    [b"data: 12345\n\n", b"data: 12345", "data: ééé\n".encode(), b"data: 12345\r"],
    ids=["complete", "partial", "multibyte", "pending-cr"],
)
def test_line_over_the_limit_raises(stream: bytes) -> None:
    with pytest.raises(SSEDecodeError):
        events_of_limited(stream, 10)


def test_long_partial_line_raises_before_its_end_arrives() -> None:
    decoder = SSEDecoder(max_line_bytes=100)
    for _ in range(10):
        decoder.feed(b"x" * 10)
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"x")
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"\n\n")


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(SSEDecodeError, ValueError)


# --- reference model ---------------------------------------------------------------------


def reference_decode(stream: bytes) -> Decoded:
    """A slow, literal reading of the WHATWG algorithm over the whole stream at once."""
    try:
        text = stream.decode("utf-8")
        invalid = False
    except UnicodeDecodeError:
        text = stream.decode("utf-8", "replace")
        invalid = True
    bom = text.startswith("\ufeff")
    if bom:
        text = text[1:]

    lines: list[str] = []
    endings = Counter({"LF": 0, "CRLF": 0, "CR": 0})
    current = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r" and text[i + 1 : i + 2] == "\n":
            endings["CRLF"] += 1
            i += 2
        elif char == "\r":
            endings["CR"] += 1
            i += 1
        elif char == "\n":
            endings["LF"] += 1
            i += 1
        else:
            current += char
            i += 1
            continue
        lines.append(current)
        current = ""

    events: list[SSEEvent] = []
    data_buffer = ""
    data_lines = 0
    type_buffer = ""
    last_id = ""
    retry: int | None = None
    retries: list[int] = []
    comments: list[str] = []
    comments_after_id = 0
    seen_id = False
    others: Counter[str] = Counter()
    no_space = data_no_space = multiline = empty = 0
    since_blank: list[str] = []
    for line in lines:
        if line == "":
            since_blank = []
            if data_buffer == "":
                empty += 1
            else:
                if data_buffer.endswith("\n"):
                    data_buffer = data_buffer[:-1]
                events.append(SSEEvent(data_buffer, type_buffer or "message", last_id))
                multiline += data_lines > 1
            data_buffer = type_buffer = ""
            data_lines = 0
            continue
        since_blank.append(line)
        if line.startswith(":"):
            comments.append(line[1:])
            comments_after_id += seen_id
            continue
        if ":" in line:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            elif value != "":
                no_space += 1
                data_no_space += name == "data"
        else:
            name, value = line, ""
        if name == "data":
            data_buffer += value + "\n"
            data_lines += 1
            continue
        others[name] += 1
        if name == "event":
            type_buffer = value
        elif name == "id":
            seen_id = True
            if "\0" not in value:
                last_id = value
        elif name == "retry" and value != "" and all(c in "0123456789" for c in value):
            retry = int(value)
            retries.append(retry)

    tail = "\n".join([*since_blank, current]) if since_blank or current else ""
    facts = FramingFacts(
        line_endings=MappingProxyType(dict(endings)),
        bom=bom,
        fields_without_space=no_space,
        data_without_space=data_no_space,
        comments=tuple(comments[:20]),
        comment_count=len(comments),
        comments_after_id=comments_after_id,
        other_fields=MappingProxyType(dict(others)),
        multiline_data_events=multiline,
        empty_dispatches=empty,
        retry_values=tuple(retries),
        invalid_utf8=invalid,
        unterminated_tail=tail,
        bytes_seen=len(stream),
    )
    return events, facts, retry, last_id


def reference_line_sizes(stream: bytes) -> list[int]:
    """UTF-8 size of every decoded line, the partial last one included."""
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [len(line.encode()) for line in text.split("\n")]


# --- properties --------------------------------------------------------------------------

TRICKY_CHARS = "ab :\t\x00é€😀\ufeff\ufffd\u2028\u2029\x85\x0b\x0c\x1c"
values = st.text(alphabet=TRICKY_CHARS, max_size=6)
names = st.sampled_from(["data", "event", "id", "retry", "foo", "dat", "DATA", ""]) | st.text(
    alphabet="adti\ufeff", max_size=4
)
separators = st.sampled_from(["", ":", ": ", ":  ", "::"])
field_lines = st.builds(lambda n, s, v: n + s + v, names, separators, values)
retry_lines = st.builds(lambda s, d: "retry" + s + d, separators, st.text("0123456789", max_size=4))
comment_lines = st.builds(lambda v: ":" + v, values)
lines = st.one_of(field_lines, field_lines, retry_lines, comment_lines, st.just(""), st.just(""))
line_ends = st.sampled_from(["\n", "\r", "\r\n"])
INVALID_BYTES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f", b"\x80"]


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """Plausible-to-hostile event streams: mixed line ends, BOMs, bad UTF-8, cut-off tails."""
    body = "".join(draw(st.lists(st.tuples(lines, line_ends).map("".join), max_size=12)))
    body += draw(st.sampled_from(["", "", "data: tail", "\r"]))
    encoded = "\ufeff".encode() * draw(st.integers(0, 2)) + body.encode()
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(encoded)))
        encoded = encoded[:at] + draw(st.sampled_from(INVALID_BYTES)) + encoded[at:]
    return encoded


SOUP_PIECES = [b"\r", b"\n", b":", b" ", b"data", b"id", b"retry", b"1", b"\xef\xbb\xbf"]
byte_soup = st.binary(max_size=64) | st.lists(
    st.sampled_from(SOUP_PIECES + INVALID_BYTES), max_size=24
).map(b"".join)
"""Arbitrary bytes, and arbitrary sequences of the bytes that matter to the framing."""


@st.composite
def split_streams(draw: st.DrawFn, streams: st.SearchStrategy[bytes]) -> tuple[bytes, list[int]]:
    stream = draw(streams)
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=len(stream) + 2))
    if draw(st.booleans()):
        cuts += cuts  # an empty read at every cut
    return stream, cuts


@PROPERTY_SETTINGS
@given(split_streams(event_streams()))
def test_any_split_decodes_like_a_single_read(case: tuple[bytes, list[int]]) -> None:
    stream, cuts = case
    whole = decode([stream])
    assert decode(reads(stream, cuts)) == whole
    assert decode(one_byte_reads(stream)) == whole


@PROPERTY_SETTINGS
@given(split_streams(event_streams()))
def test_decoder_agrees_with_reference_model(case: tuple[bytes, list[int]]) -> None:
    stream, cuts = case
    assert decode(reads(stream, cuts)) == reference_decode(stream)


@PROPERTY_SETTINGS
@given(split_streams(byte_soup))
def test_arbitrary_bytes_only_ever_decode_like_the_reference(case: tuple[bytes, list[int]]) -> None:
    # Nothing may raise here (the default line limit is far away); a crash fails the test.
    stream, cuts = case
    assert decode(reads(stream, cuts)) == reference_decode(stream)


@PROPERTY_SETTINGS
@given(split_streams(event_streams() | byte_soup), st.integers(0, 12))
def test_line_limit_raises_exactly_for_long_lines(
    case: tuple[bytes, list[int]], limit: int
) -> None:
    stream, cuts = case
    too_long = max(reference_line_sizes(stream)) > limit
    try:
        decode(reads(stream, cuts), max_line_bytes=limit)
    except SSEDecodeError:  # any other exception fails the test
        assert too_long
    else:
        assert not too_long
