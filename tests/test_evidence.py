"""Evidence is bounded and safe: start and end of what came back, size and hash of a body
too long to keep, the key masked before anything is cut (issue 13, the check side)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from chatgauge import ChatCase, ChatClient, ClientConfig
from chatgauge._bounded import BodyDigest
from chatgauge._limits import KiB, Limits
from chatgauge._models import ChatExchange, TimedEvent
from chatgauge._secret import Secret
from chatgauge._sse import SSEEvent
from chatgauge.conformance._context import CheckContext, Settings, exchange_evidence
from chatgauge.conformance._inspect import EXCERPT_CHARS, event_position
from tests.hostile_server import HostileServer, Timings

KEY = Secret("sk-evidence-Wm4Qz8Tn2Lx6Rb0")
FRAGMENTS = {KEY.reveal()[i : i + 8] for i in range(len(KEY.reveal()) - 7)}


def _no_fragment(text: str) -> bool:
    return not any(f in text for f in FRAGMENTS)


def _exchange(raw: bytes, *, stream: bool = False, **fields: object) -> ChatExchange:
    body = {"model": "m", "messages": [], "stream": stream}
    headers = {"content-type": "text/event-stream" if stream else "application/json"}
    values: dict[str, object] = {
        "case": ChatCase(body=body, label="probe"),
        "url": "http://127.0.0.1:1/v1/chat/completions",
        "status": 200,
        "headers": headers,
        "raw": raw,
        "t_send_ns": 0,
        "t_headers_ns": 0,
        "t_done_ns": 0,
        **fields,
    }
    return ChatExchange(**values)  # type: ignore[arg-type]


def test_a_long_stream_shows_its_end_where_done_is_or_is_not() -> None:
    events = b"".join(b'data: {"n": %d}\n\n' % i for i in range(400))
    ended = _exchange(events + b"data: [DONE]\n\n", stream=True)
    cut = _exchange(events, stream=True)

    shown_ended = exchange_evidence(ended, None).raw_sse
    shown_cut = exchange_evidence(cut, None).raw_sse

    assert shown_ended.startswith('data: {"n": 0}')
    assert "data: [DONE]" in shown_ended[-40:]
    assert "[DONE]" not in shown_cut
    assert 'data: {"n": 399}' in shown_cut[-100:]
    assert len(shown_ended) < 2 * EXCERPT_CHARS


def test_a_body_not_kept_whole_shows_head_tail_size_and_hash() -> None:
    head, tail = b'{"id": "start' + b"a" * 5000, b"z" * 5000 + b'end"}'
    whole = head + b"m" * 100_000 + tail
    digest = BodyDigest(len(whole), hashlib.sha256(whole).hexdigest(), kept_whole=False, tail=tail)
    exchange = _exchange(head, digest=digest)

    evidence = exchange_evidence(exchange, None)

    assert evidence.response_excerpt.startswith('{"id": "start')
    assert "…" in evidence.response_excerpt
    assert evidence.response_excerpt.split("\n")[0].endswith('end"}')
    assert evidence.response_excerpt.endswith(f"[{digest.describe()}]")
    assert evidence.detail["body"] == digest.describe()
    assert f"{len(whole)} bytes, sha256 {digest.sha256}, not kept whole" == digest.describe()


def test_the_key_is_masked_before_the_excerpt_is_cut() -> None:
    # The key sits where a plain cut at the excerpt's half would keep 12 of its characters.
    half = EXCERPT_CHARS // 2
    raw = b"x" * (half - 12) + KEY.reveal().encode() + b"y" * 3000
    evidence = exchange_evidence(_exchange(raw), KEY)

    assert _no_fragment(evidence.response_excerpt)
    assert evidence.response_excerpt.startswith("x" * (half - 12) + "***")


def test_a_key_across_the_kept_edges_leaves_no_fragment() -> None:
    key = KEY.reveal().encode()
    kept_head = b"h" * 100 + key[:10]  # the kept head ends inside the key
    kept_tail = key[10:] + b"t" * 100  # the kept tail starts inside it
    digest = BodyDigest(10_000, "0" * 64, kept_whole=False, tail=kept_tail)
    evidence = exchange_evidence(_exchange(kept_head, digest=digest), KEY)

    assert _no_fragment(evidence.response_excerpt)


def test_omitted_events_are_counted_and_positions_are_those_of_the_whole_stream() -> None:
    events = tuple(
        TimedEvent(SSEEvent(data=str(i)), arrived_ns=i, read_index=i) for i in (0, 1, 2, 97, 98)
    )
    exchange = _exchange(b"", stream=True, events=events, events_omitted=92, events_omitted_at=3)

    assert exchange.event_count == 97
    assert [event_position(exchange, i) for i in range(5)] == [0, 1, 2, 95, 96]
    detail = exchange_evidence(exchange, None).detail["events"]
    assert detail == "97 events, 92 between the first 3 and the last 2 counted, not kept"


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with HostileServer(Timings(huge_bytes=300 * KiB)) as running:
        yield running


def test_a_huge_answer_on_the_wire_becomes_bounded_evidence(server: HostileServer) -> None:
    limits = Limits(keep_body_bytes=64 * KiB, excerpt_bytes=4 * KiB)
    config = ClientConfig(base_url=server.base_url("huge-json"), limits=limits)
    with ChatClient(config) as client:
        ctx = CheckContext(send_case=client.send, settings=Settings(model="m"))
        exchange = ctx.send(ChatCase(body={"model": "m", "messages": []}, label="huge"))

    evidence = ctx.evidence(exchange)

    assert not exchange.body.kept_whole
    assert exchange.body.size == 300 * KiB
    assert evidence.response_excerpt.startswith('{"id":"chatcmpl-1"')
    assert '"total_tokens":2}}' in evidence.response_excerpt  # the end of the body
    assert len(evidence.response_excerpt) < EXCERPT_CHARS + 200


def test_an_echoed_key_never_reaches_the_evidence_of_a_real_exchange(
    server: HostileServer,
) -> None:
    config = ClientConfig(base_url=server.base_url("echo-key"), api_key=KEY)
    with ChatClient(config) as client:
        ctx = CheckContext(send_case=client.send, settings=Settings(model="m"), secret=KEY)
        exchange = ctx.send(ChatCase(body={"model": "m", "messages": []}, label="echo"))

    assert exchange.status == 401
    assert _no_fragment(exchange.raw.decode())  # masked at the boundary already
    assert "Incorrect API key provided: ***. Check it." in ctx.evidence(exchange).response_excerpt
