"""Both clients against every mode of the hostile server, with small bounds.

For each mode, the conformance client (``ChatClient.send``) and the load users' connection
(``Connection`` with ``Response.events`` / ``read_all``) must return by themselves, within
their deadline (with a wide margin: this is no benchmark), with the documented error kind
and limit, without raising, and for the big bodies without holding them in memory.
"""

from __future__ import annotations

import json
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from chatgauge import ChatCase, ChatClient, ChatExchange, ClientConfig, Secret
from chatgauge._jsonguard import parse_json
from chatgauge._limits import KiB, Limits, MiB
from chatgauge.loadtests import _http, _loop_socket
from chatgauge.loadtests._http import Connection, HttpTransportError, Origin, request_head
from tests.hostile_server import ANSI_SEQUENCES, HostileServer, Timings

KEY = "sk-hostile-0123456789abcdefghijklmnopqrstuv"
MARGIN_S = 5.0  # generous: the machine is shared; a hang would take the whole deadline+

SMALL = Limits(
    total_timeout_s=10.0,
    max_body_bytes=1 * MiB,
    max_events=1000,
    max_line_bytes=256 * KiB,  # the deep-sse event (200 kB) fits
    max_interim_responses=5,
    max_header_bytes=8 * KiB,
    keep_body_bytes=256 * KiB,  # the deep-json body (200 kB) is kept whole
    excerpt_bytes=1 * KiB,
    keep_events=50,
    keep_tail_events=5,
)
DEADLINE = replace(SMALL, total_timeout_s=1.0)


@dataclass(frozen=True)
class Case:
    """One mode, the bounds it runs under and what both clients must report."""

    mode: str
    kind: str | None  # error kind (None: a complete response)
    limit: str | None = None  # the Limits field named
    status: int | None = 200  # None: no head came
    stream: bool = False
    limits: Limits = SMALL
    read_timeout_s: float = 5.0

    @property
    def deadline_s(self) -> float:
        """The longest the request may take: its deadline, or its read-gap timeout."""
        return min(self.limits.total_timeout_s, self.read_timeout_s * 3)

    @property
    def id(self) -> str:
        stream = "-stream" if self.stream else ""
        deadline = "-deadline" if self.limit == "total_timeout_s" else ""
        return f"{self.mode}{stream}{deadline}"


CASES = [
    Case("ok", None),
    Case("ok", None, stream=True),
    Case("endless-stream", "timeout", "total_timeout_s", stream=True, limits=DEADLINE),
    Case("many-events", "limit", "max_events", stream=True),
    Case("trickle-body", "timeout", "total_timeout_s", limits=DEADLINE, read_timeout_s=0.8),
    Case("trickle-head", "timeout", "total_timeout_s", None, limits=DEADLINE, read_timeout_s=0.8),
    Case("early-hints", "limit", "max_interim_responses", None),
    Case(
        "early-hints",
        "timeout",
        "total_timeout_s",
        None,
        limits=replace(DEADLINE, max_interim_responses=10**6),
    ),
    Case("silence", "timeout", None, stream=True, read_timeout_s=0.3),
    Case("no-answer", "timeout", None, None, read_timeout_s=0.3),
    Case("huge-json", "limit", "max_body_bytes"),
    Case("huge-json-chunked", "limit", "max_body_bytes"),
    Case("huge-json-close", "limit", "max_body_bytes"),
    Case("huge-line", "limit", "max_line_bytes", stream=True),
    Case("huge-head", "limit", "max_header_bytes", None),
    Case("deep-json", None),
    Case("deep-sse", None, stream=True),
    Case("surrogate", None),
    Case("surrogate", None, stream=True),
    Case("surrogate-error", None, status=400),
    Case("echo-key", None, status=401),
    Case("echo-key-content", None, stream=True),
    Case("ansi-raw", None, status=500),
    Case("ansi-escaped", None, status=400),
    Case("redirect", None, status=307),
    Case("reset", "connection"),
    Case("reset", "connection", stream=True),
]


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    timings = Timings(interval_s=0.01, trickle_s=0.2, connection_s=60.0, lifetime_s=600.0)
    with HostileServer(timings) as running:
        yield running


def body_of(case: Case) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": case.stream}


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def send(server: HostileServer, case: Case) -> tuple[ChatExchange, float]:
    config = ClientConfig(
        base_url=server.base_url(case.mode),
        api_key=Secret(KEY),
        read_timeout_s=case.read_timeout_s,
        connect_timeout_s=2.0,
        limits=case.limits,
    )
    with ChatClient(config) as client:
        exchange: ChatExchange
        exchange, elapsed = timed(lambda: client.send(ChatCase(body=body_of(case))))
    return exchange, elapsed


@dataclass
class LoadOutcome:
    """What the load connection gave: status, body or events, or the transport error."""

    status: int | None = None
    body: bytes = b""
    events: int = 0
    error: HttpTransportError | None = None


def load(server: HostileServer, case: Case) -> tuple[LoadOutcome, float]:
    connection = Connection(
        Origin.from_url(server.base_url(case.mode)),
        read_timeout_s=case.read_timeout_s,
        connect_timeout_s=2.0,
        limits=case.limits,
    )
    payload = json.dumps(body_of(case)).encode()
    head = request_head(
        "POST",
        f"{connection.origin.prefix}/chat/completions",
        {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {KEY}",
            "Content-Length": str(len(payload)),
        },
    )
    outcome = LoadOutcome()

    def run() -> None:
        try:
            _, response = connection.request(head, payload)
            outcome.status = response.status
            if case.stream and response.status == 200:
                for _, events, _ in response.events():
                    outcome.events += len(events)
            else:
                outcome.body = response.read_all(64 * KiB)
        except HttpTransportError as exc:
            outcome.error = exc
        finally:
            connection.close()

    _, elapsed = timed(run)
    return outcome, elapsed


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_conformance_client_ends_with_the_documented_outcome(
    server: HostileServer, case: Case
) -> None:
    exchange, elapsed = send(server, case)
    assert elapsed < case.deadline_s + MARGIN_S
    if case.limit == "total_timeout_s":
        assert elapsed >= case.limits.total_timeout_s * 0.95  # it was the deadline that ended it
    assert (exchange.error_kind, exchange.limit, exchange.status) == (
        case.kind,
        case.limit,
        case.status,
    ), exchange.error
    if case.kind == "limit":
        assert exchange.error is not None
        assert case.limits.describe(case.limit) in exchange.error or (  # type: ignore[arg-type]
            case.limit in ("max_events", "max_interim_responses")
            and str(getattr(case.limits, case.limit)) in exchange.error
        )
    if case.limit == "total_timeout_s":
        assert exchange.error == "no complete answer within 1 s (total deadline)"
    # What is kept stays within the keep limits, whatever came.
    assert len(exchange.raw) <= case.limits.keep_body_bytes
    assert len(exchange.events) <= case.limits.keep_events + case.limits.keep_tail_events
    assert KEY not in repr(exchange)
    assert "\x1b" not in repr(exchange)


@pytest.fixture(params=[False, True], ids=["socket", "loop"])
def wires(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[bool, list[bool]]:
    """How the load connection drives its socket: as given, or on gevent's loop directly
    (what it does under locust; here without monkey-patching, in the main greenlet). The
    fixture gives whether loop sockets are wanted, and for each connection made whether it
    had one."""
    made: list[bool] = []
    monkeypatch.setattr(_loop_socket, "_gevent_active", lambda: bool(request.param))

    def adopt(sock: socket.socket) -> _loop_socket.Wire:
        wire = _loop_socket.adopt(sock)
        made.append(isinstance(wire, _loop_socket.LoopSocket))
        return wire

    monkeypatch.setattr(_http, "adopt", adopt)
    return bool(request.param), made


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_load_connection_ends_with_the_documented_outcome(
    server: HostileServer, case: Case, wires: tuple[bool, list[bool]]
) -> None:
    outcome, elapsed = load(server, case)
    wanted, made = wires
    assert made
    assert all(kind == wanted for kind in made)
    assert elapsed < case.deadline_s + MARGIN_S
    if case.limit == "total_timeout_s":
        assert elapsed >= case.limits.total_timeout_s * 0.95
    error = outcome.error
    kind = error.kind if error is not None else None
    limit = error.limit if error is not None else None
    assert (kind, limit, outcome.status) == (case.kind, case.limit, case.status), str(error)
    if error is not None:
        assert KEY not in str(error)
    assert len(outcome.body) <= 64 * KiB


def test_a_deadline_hit_keeps_what_arrived(server: HostileServer) -> None:
    case = Case("endless-stream", "timeout", "total_timeout_s", stream=True, limits=DEADLINE)
    exchange, _ = send(server, case)
    # About 100 events in a second; the first 50 and the last 5 are kept, the rest counted.
    assert exchange.event_count > len(exchange.events) == 55
    assert exchange.events_omitted == exchange.event_count - 55
    assert exchange.events_omitted_at == 50
    assert exchange.events[0].json()["choices"][0]["delta"]["content"] == " word0"
    indices = [int(e.json()["choices"][0]["delta"]["content"][5:]) for e in exchange.events]
    assert indices[:50] == list(range(50))
    assert indices[50:] == list(range(exchange.event_count - 5, exchange.event_count))
    assert len(exchange.read_sizes) == 50
    assert exchange.read_count == 50 + exchange.reads_omitted
    assert exchange.body.size >= sum(exchange.read_sizes)


def test_a_body_cut_by_the_limit_keeps_head_tail_size_and_hash(server: HostileServer) -> None:
    exchange, _ = send(server, Case("huge-json-chunked", "limit", "max_body_bytes"))
    digest = exchange.body
    assert not digest.kept_whole
    assert digest.size > SMALL.max_body_bytes  # the read that crossed the limit is counted
    assert exchange.raw.startswith(b'{"id":"chatcmpl-1","object":"chat.completion"')
    assert len(exchange.raw) == len(digest.tail) == SMALL.excerpt_bytes
    assert digest.tail == b"a" * SMALL.excerpt_bytes
    assert len(digest.sha256) == 64
    assert f"{digest.size} bytes, sha256 {digest.sha256}" in digest.describe()
    with pytest.raises(ValueError, match="too long to keep whole"):
        exchange.json()
    assert exchange.json_or_none() is None


def test_an_announced_huge_body_fails_before_reading_it(server: HostileServer) -> None:
    exchange, _ = send(server, Case("huge-json", "limit", "max_body_bytes"))
    assert exchange.error == "answer exceeded 1 MiB (Content-Length 500000000)"
    assert exchange.body.size == 0


def test_deep_json_is_not_json_to_either_reader(server: HostileServer) -> None:
    exchange, _ = send(server, Case("deep-json", None))
    assert exchange.json_or_none() is None
    with pytest.raises(ValueError, match="nested deeper"):
        exchange.json()
    stream, _ = send(server, Case("deep-sse", None, stream=True))
    assert [e.data[:20] for e in stream.events][2] == "[DONE]"
    with pytest.raises(ValueError, match="nested deeper"):
        stream.events[1].json()
    assert len(stream.chunks()) == 1  # the deep one is skipped, not a crash
    outcome, _ = load(server, Case("deep-json", None))
    with pytest.raises(ValueError, match="nested deeper"):
        parse_json(outcome.body)


def test_lone_surrogates_arrive_as_the_strings_they_encode(server: HostileServer) -> None:
    exchange, _ = send(server, Case("surrogate", None))
    body = exchange.json()
    assert (body["id"], body["model"], body["object"]) == (
        "chatcmpl-\ud800",
        "m\ud800",
        "chat.completion\ud800",
    )
    stream, _ = send(server, Case("surrogate", None, stream=True))
    (chunk,) = stream.chunks()
    assert (chunk["id"], chunk["model"], chunk["object"]) == (
        "chatcmpl-\ud800",
        "m\ud800",
        "\ud800",
    )
    error, _ = send(server, Case("surrogate-error", None, status=400))
    assert error.json()["error"]["message"] == "bad request \ud800 here"


def test_echoed_keys_and_escapes_stay_in_the_body_only(server: HostileServer) -> None:
    # The transport keeps endpoint bytes as they came (redacting them is the job of
    # whatever shows them); what it writes itself (repr, error) carries none of them.
    echoed, _ = send(server, Case("echo-key", None, status=401))
    assert KEY in echoed.json()["error"]["message"]
    assert echoed.error is None
    assert KEY not in repr(echoed)
    raw, _ = send(server, Case("ansi-raw", None, status=500))
    assert all(seq.encode("latin-1") in raw.raw for seq in ANSI_SEQUENCES)
    escaped, _ = send(server, Case("ansi-escaped", None, status=400))
    assert b"\\u001b" in escaped.raw
    assert "\x1b]0;pwned\x07" in escaped.json()["error"]["message"]


def test_a_redirect_is_recorded_not_followed(server: HostileServer) -> None:
    before = server.requests["ok"]
    exchange, _ = send(server, Case("redirect", None, status=307))
    assert exchange.headers["location"].endswith("/m/ok/v1/chat/completions")
    outcome, _ = load(server, Case("redirect", None, status=307))
    assert outcome.status == 307
    assert server.requests["ok"] == before


@pytest.mark.parametrize("mode", ["huge-json-chunked", "huge-json-close"])
def test_a_huge_body_is_never_held_in_memory(server: HostileServer, mode: str) -> None:
    # 64 MiB are read (far more than kept); a client that buffered them would peak above.
    limits = replace(SMALL, max_body_bytes=64 * MiB, keep_body_bytes=1 * MiB)
    case = Case(mode, "limit", "max_body_bytes", limits=limits)
    tracemalloc.start()
    try:
        exchange, _ = send(server, case)
        outcome, _ = load(server, case)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exchange.limit == "max_body_bytes"
    assert exchange.body.size > 64 * MiB
    assert outcome.error is not None
    assert outcome.error.limit == "max_body_bytes"
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_a_case_can_shorten_its_own_deadline(server: HostileServer) -> None:
    config = ClientConfig(base_url=server.base_url("endless-stream"), limits=SMALL)
    case = ChatCase(body={"model": "m", "messages": [], "stream": True}, total_timeout_s=0.5)
    with ChatClient(config) as client:
        exchange, elapsed = timed(lambda: client.send(case))
    assert 0.45 < elapsed < 0.5 + MARGIN_S
    assert (exchange.error_kind, exchange.limit) == ("timeout", "total_timeout_s")
    assert exchange.error == "no complete answer within 0.5 s (total deadline)"
