"""The timed client against real loopback servers that write scripted bytes.

The server here is deliberately dumb: it reads one request, writes exactly the bytes a test
scripts (with chosen pauses) and closes, so each test controls the wire byte for byte.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest

from chatgauge import ChatCase, ChatClient, ClientConfig, EndpointError, Secret, TimedEvent

KEY = "sk-test-7f3a9c"
STREAM_CASE = ChatCase(body={"model": "m", "messages": [], "stream": True})
PLAIN_CASE = ChatCase(body={"model": "m", "messages": []})


@dataclass(frozen=True)
class Received:
    """One request as the server read it (header names lower-cased, repeats folded)."""

    request_line: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[socket.socket, threading.Event], None]


class ScriptedServer:
    """Answers every request on 127.0.0.1 with ``respond(conn, stop)``, then closes."""

    def __init__(self, respond: Responder) -> None:
        self._respond = respond
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.received: list[Received] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                # Each scripted write goes out at once, as a streaming server's would.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    self.received.append(_read_request(conn))
                    self._respond(conn, self._stop)


def _read_request(conn: socket.socket) -> Received:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed before the request ended")
        buffer += chunk
    head, body = buffer.split(b"\r\n\r\n", 1)
    request_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        # A repeated header is folded as HTTP allows, so that a duplicate stays visible.
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    while len(body) < int(headers.get("content-length", "0")):
        body += conn.recv(65536)
    return Received(request_line, headers, body)


def _head(status: int, content_type: str, framing: str) -> bytes:
    return (
        f"HTTP/1.1 {status} Scripted\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\nConnection: close\r\n\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def answer_json(body: bytes, status: int = 200) -> Responder:
    def respond(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(_head(status, "application/json", f"Content-Length: {len(body)}") + body)

    return respond


def answer_sse(writes: list[bytes], pause_s: float = 0.0) -> Responder:
    """Stream ``writes`` as separate HTTP chunks, pausing before each one."""

    def respond(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(_head(200, "text/event-stream", "Transfer-Encoding: chunked"))
        for data in writes:
            if stop.wait(pause_s):
                return
            conn.sendall(_chunk(data))
        conn.sendall(b"0\r\n\r\n")

    return respond


def stall_after(prefix: bytes) -> Responder:
    """Write ``prefix`` then go silent until the test ends."""

    def respond(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(prefix)
        stop.wait(5)

    return respond


@pytest.fixture
def refused_url() -> str:
    """A loopback URL on a port nobody listens on."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def client_for(
    server: ScriptedServer,
    *,
    read_timeout_s: float = 10.0,
    extra_headers: dict[str, str] | None = None,
) -> Iterator[ChatClient]:
    config = ClientConfig.from_env(
        server.base_url, KEY, read_timeout_s=read_timeout_s, extra_headers=extra_headers
    )
    with ChatClient(config) as client:
        yield client


def _events(*payloads: str) -> list[bytes]:
    return [f"data: {p}\n\n".encode() for p in payloads]


# --- configuration ----------------------------------------------------------------------


def test_base_url_keeps_the_api_prefix_and_drops_a_trailing_slash() -> None:
    assert ClientConfig("https://api.example.test/v1/").base_url == "https://api.example.test/v1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.test/v1", "must start with http:// or https://"),
        ("127.0.0.1:8000/v1", "must start with http:// or https://"),
        ("http:///v1", "no host"),
        ("http://example.test/v1?x=1", "query or fragment"),
        ("http://example.test:99999/v1", "not valid"),
    ],
)
def test_a_bad_base_url_is_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientConfig(url)


def test_credentials_in_the_base_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="credentials") as info:
        ClientConfig(f"https://user:{KEY}@example.test/v1")
    assert KEY not in str(info.value)


def test_an_unsendable_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="cannot be sent") as info:
        ClientConfig("http://127.0.0.1:1/v1", Secret(KEY + "\n"))
    assert KEY not in str(info.value)


@pytest.mark.parametrize("field", ["connect_timeout_s", "read_timeout_s"])
def test_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ClientConfig("http://127.0.0.1:1/v1", **{field: 0})  # type: ignore[arg-type]


def test_from_env_falls_back_to_the_openai_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config = ClientConfig.from_env()
    assert config.base_url == "http://127.0.0.1:9/v1"
    assert config.api_key == Secret(KEY)
    explicit = ClientConfig.from_env("http://127.0.0.1:8/v1", "sk-other")
    assert (explicit.base_url, explicit.api_key) == ("http://127.0.0.1:8/v1", Secret("sk-other"))


def test_from_env_without_any_base_url_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        ClientConfig.from_env()


def test_an_empty_key_variable_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert ClientConfig.from_env("http://127.0.0.1:9/v1").api_key is None


def test_repr_of_the_config_never_shows_the_key_or_extra_headers() -> None:
    config = ClientConfig.from_env(
        "http://127.0.0.1:9/v1", KEY, extra_headers={"api-key": "gw-secret-55"}
    )
    text = repr(config) + str(config)
    assert KEY not in text
    assert "gw-secret-55" not in text
    assert "127.0.0.1:9" in text


def test_tls_is_verified_unless_explicitly_turned_off() -> None:
    with ChatClient(ClientConfig("https://127.0.0.1:1/v1")) as client:
        assert client.ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert client.ssl_context.check_hostname
    with ChatClient(ClientConfig("https://127.0.0.1:1/v1", verify_tls=False)) as client:
        assert client.ssl_context.verify_mode == ssl.CERT_NONE


# --- what goes on the wire ----------------------------------------------------------------


def test_request_carries_body_auth_and_identity_encoding() -> None:
    case = ChatCase(body={"model": "m", "messages": [{"role": "user", "content": "héllo"}]})
    with ScriptedServer(answer_json(b"{}")) as server, client_for(server) as client:
        client.send(case)
    (request,) = server.received
    assert request.request_line == "POST /v1/chat/completions HTTP/1.1"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept-encoding"] == "identity"
    assert request.body == case.content()


def test_case_headers_replace_defaults_whatever_their_letter_case() -> None:
    case = ChatCase(body={}, headers={"content-type": "text/plain", "authorization": "Basic x"})
    with ScriptedServer(answer_json(b"{}")) as server, client_for(server) as client:
        client.send(case)
    (request,) = server.received
    assert (request.headers["content-type"], request.headers["authorization"]) == (
        "text/plain",
        "Basic x",
    )


def test_the_key_from_the_environment_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer(answer_json(b"{}")) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        with ChatClient(ClientConfig.from_env()) as client:
            client.send(PLAIN_CASE)
    assert server.received[0].headers["authorization"] == "Bearer sk-from-env"


def test_omit_auth_and_override_and_extra_headers() -> None:
    cases = [
        ChatCase(body={}, omit_auth=True),
        ChatCase(body={}, api_key_override="sk-wrong"),
        ChatCase(body={}, headers={"X-Case": "c"}),
    ]
    with (
        ScriptedServer(answer_json(b"{}")) as server,
        client_for(server, extra_headers={"X-Gateway": "g"}) as client,
    ):
        for case in cases:
            client.send(case)
    omitted, overridden, plain = (r.headers for r in server.received)
    assert "authorization" not in omitted
    assert overridden["authorization"] == "Bearer sk-wrong"
    assert (plain["x-gateway"], plain["x-case"]) == ("g", "c")


def test_no_key_configured_sends_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with (
        ScriptedServer(answer_json(b"{}")) as server,
        ChatClient(ClientConfig.from_env(server.base_url)) as client,
    ):
        client.send(PLAIN_CASE)
    assert "authorization" not in server.received[0].headers


# --- what comes back ----------------------------------------------------------------------


def test_a_plain_response_is_kept_byte_for_byte() -> None:
    body = b'{"id": "x",  "choices" : []}'
    with ScriptedServer(answer_json(body, status=201)) as server, client_for(server) as client:
        exchange = client.send(PLAIN_CASE)
        assert exchange.url == f"{server.base_url}/chat/completions"
    assert (exchange.status, exchange.raw, exchange.error_kind) == (201, body, None)
    assert exchange.json() == {"id": "x", "choices": []}
    assert exchange.headers["content-type"] == "application/json"
    assert exchange.events == ()
    assert exchange.framing is None
    assert exchange.t_headers_ns is not None
    assert exchange.t_send_ns <= exchange.t_headers_ns <= exchange.t_done_ns


def test_a_stream_decodes_into_events_with_ordered_stamps() -> None:
    writes = [b": keep-alive\n\n", *_events('{"n":1}', '{"n":2}', "[DONE]")]
    with ScriptedServer(answer_sse(writes)) as server, client_for(server) as client:
        exchange = client.send(STREAM_CASE)
    assert exchange.error_kind is None
    assert [e.data for e in exchange.events] == ['{"n":1}', '{"n":2}', "[DONE]"]
    assert exchange.raw == b"".join(writes)
    assert sum(exchange.read_sizes) == len(exchange.raw)
    assert exchange.framing is not None
    assert exchange.framing.comment_count == 1
    first = exchange.t_first_event_ns
    assert exchange.t_headers_ns is not None
    assert first is not None
    assert exchange.t_send_ns <= exchange.t_headers_ns <= first <= exchange.t_done_ns
    stamps = [e.arrived_ns for e in exchange.events]
    assert stamps == sorted(stamps)
    reads = [e.read_index for e in exchange.events]
    assert reads == sorted(reads)
    assert all(0 <= i < len(exchange.read_sizes) for i in reads)


def test_a_slow_drip_shows_up_as_gaps_between_arrivals() -> None:
    pause_s = 0.06
    writes = _events("a", "b", "c", "d")
    with ScriptedServer(answer_sse(writes, pause_s)) as server, client_for(server) as client:
        exchange = client.send(STREAM_CASE)
    stamps = [e.arrived_ns for e in exchange.events]
    assert len(stamps) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert all(gap >= pause_s / 2 * 1e9 for gap in gaps), gaps
    reads = [e.read_index for e in exchange.events]
    assert len(set(reads)) == 4


def test_on_event_sees_each_event_before_the_next_one_arrives() -> None:
    seen: list[tuple[str, int]] = []

    def on_event(event: TimedEvent) -> None:
        seen.append((event.data, time.perf_counter_ns()))

    with ScriptedServer(answer_sse(_events("a", "b"), 0.05)) as server, client_for(server) as c:
        exchange = c.send(STREAM_CASE, on_event=on_event)
    assert [data for data, _ in seen] == ["a", "b"]
    assert seen[0][1] < exchange.events[1].arrived_ns


def test_events_written_together_share_one_read_and_one_stamp() -> None:
    clump = b"".join(_events("a", "b", "c"))
    with ScriptedServer(answer_sse([clump])) as server, client_for(server) as client:
        exchange = client.send(STREAM_CASE)
    assert [e.data for e in exchange.events] == ["a", "b", "c"]
    assert len({(e.read_index, e.arrived_ns) for e in exchange.events}) == 1


def test_stop_after_events_stops_reading_an_endless_stream_without_an_error() -> None:
    """A stream that never ends is read up to the case's event count, then closed."""

    def endless(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(_head(200, "text/event-stream", "Transfer-Encoding: chunked"))
        count = 0
        while not stop.is_set():
            # Three events per write: the count must hold inside one read too.
            conn.sendall(_chunk(b"".join(f"data: {count + i}\n\n".encode() for i in range(3))))
            count += 3
            stop.wait(0.001)

    case = replace(STREAM_CASE, stop_after_events=10)
    with ScriptedServer(endless) as server, client_for(server) as client:
        exchange = client.send(case)
    assert exchange.stopped_reading
    assert exchange.error_kind is None
    assert exchange.error is None
    assert [e.data for e in exchange.events] == [str(i) for i in range(10)]
    assert "stopped_reading=True" in repr(exchange)


def test_a_stream_that_ends_before_its_event_count_is_read_whole() -> None:
    writes = _events('{"n":1}', "[DONE]")
    case = replace(STREAM_CASE, stop_after_events=3)
    with ScriptedServer(answer_sse(writes)) as server, client_for(server) as client:
        exchange = client.send(case)
    assert not exchange.stopped_reading
    assert [e.data for e in exchange.events] == ['{"n":1}', "[DONE]"]


def test_stop_after_events_must_be_positive() -> None:
    with pytest.raises(ValueError, match="stop_after_events"):
        replace(STREAM_CASE, stop_after_events=0)


def test_an_error_answer_to_a_stream_request_is_still_captured() -> None:
    body = b'{"error": {"message": "bad", "type": "invalid_request_error"}}'
    with ScriptedServer(answer_json(body, status=400)) as server, client_for(server) as client:
        exchange = client.send(STREAM_CASE)
    assert (exchange.status, exchange.raw, exchange.error_kind) == (400, body, None)
    assert exchange.events == ()
    assert exchange.framing is not None


def test_an_event_stream_is_decoded_even_when_not_asked_for() -> None:
    with ScriptedServer(answer_sse(_events("x"))) as server, client_for(server) as client:
        exchange = client.send(PLAIN_CASE)
    assert [e.data for e in exchange.events] == ["x"]


def test_list_models_reads_the_ids() -> None:
    body = b'{"object":"list","data":[{"id":"pro"},{"id":"fast"}]}'
    with ScriptedServer(answer_json(body)) as server, client_for(server) as client:
        assert client.list_models() == ["pro", "fast"]
    assert server.received[0].request_line == "GET /v1/models HTTP/1.1"
    assert server.received[0].headers["authorization"] == f"Bearer {KEY}"


def test_list_models_reports_an_http_error_in_one_line() -> None:
    with (
        ScriptedServer(answer_json(b"{}", status=401)) as server,
        client_for(server) as client,
        pytest.raises(EndpointError, match="HTTP 401"),
    ):
        client.list_models()


# --- failures come back as exchanges ------------------------------------------------------


def test_a_stall_before_headers_is_a_timeout() -> None:
    with ScriptedServer(stall_after(b"")) as server, client_for(server, read_timeout_s=0.2) as c:
        exchange = c.send(PLAIN_CASE)
    assert (exchange.error_kind, exchange.status, exchange.t_headers_ns) == ("timeout", None, None)
    assert exchange.error
    assert exchange.t_send_ns <= exchange.t_done_ns


def test_a_stall_mid_stream_is_a_timeout_that_keeps_what_arrived() -> None:
    prefix = _head(200, "text/event-stream", "Transfer-Encoding: chunked")
    prefix += _chunk(b"data: first\n\n")
    with ScriptedServer(stall_after(prefix)) as server, client_for(server, read_timeout_s=0.2) as c:
        exchange = c.send(STREAM_CASE)
    assert (exchange.error_kind, exchange.status) == ("timeout", 200)
    assert [e.data for e in exchange.events] == ["first"]
    assert exchange.raw == b"data: first\n\n"


def test_a_refused_connection_is_a_connection_error(refused_url: str) -> None:
    with ChatClient(ClientConfig(refused_url, Secret(KEY), connect_timeout_s=2)) as client:
        exchange = client.send(PLAIN_CASE)
    assert (exchange.error_kind, exchange.status, exchange.raw) == ("connection", None, b"")
    assert exchange.error
    assert "\n" not in exchange.error


def test_a_response_that_is_not_http_is_a_protocol_error() -> None:
    garbage = b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
    with ScriptedServer(stall_after(garbage)) as server, client_for(server) as client:
        exchange = client.send(PLAIN_CASE)
    assert (exchange.error_kind, exchange.status) == ("protocol", None)


def test_a_key_quoted_by_the_http_stack_is_redacted_from_the_error() -> None:
    # h11 quotes an illegal header value in its error message: here it holds the key.
    case = ChatCase(body={}, headers={"X-Debug": f"{KEY}\n"})
    with ScriptedServer(answer_json(b"{}")) as server, client_for(server) as client:
        exchange = client.send(case)
    assert exchange.error_kind == "protocol"
    assert exchange.error is not None
    assert KEY not in exchange.error
    assert "***" in exchange.error


def test_an_override_key_is_never_in_the_exchange_repr() -> None:
    case = ChatCase(body={}, api_key_override="sk-override-91")
    with ScriptedServer(answer_json(b"{}")) as server, client_for(server) as client:
        exchange = client.send(case)
    assert "sk-override-91" not in repr(exchange)
    assert KEY not in repr(exchange)


def test_one_client_serves_many_requests_in_turn() -> None:
    with ScriptedServer(answer_json(b"{}")) as server, client_for(server) as client:
        statuses = [client.send(PLAIN_CASE).status for _ in range(5)]
    assert statuses == [200] * 5
    assert len(server.received) == 5


def test_stamps_come_from_the_monotonic_perf_counter() -> None:
    before = time.perf_counter_ns()
    with ScriptedServer(answer_json(b"{}")) as server, client_for(server) as client:
        exchange = client.send(PLAIN_CASE)
    assert before <= exchange.t_send_ns <= exchange.t_done_ns <= time.perf_counter_ns()


def test_a_request_lost_on_a_reused_connection_is_sent_once_more() -> None:
    # The server answers the first request on a kept-alive connection, then reads the next
    # one on it and closes without a word (as llama-cpp-python does after an error): that
    # request never reached the application, so the client resends it on a new connection.
    calls = itertools.count()
    body = b'{"ok": true}'
    dropped: list[Received] = []

    def respond(conn: socket.socket, stop: threading.Event) -> None:
        first = next(calls) == 0
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        conn.sendall(f"{head}\r\n\r\n".encode() + body)
        if first:
            dropped.append(_read_request(conn))

    case = ChatCase(body={"model": "m", "messages": []})
    with ScriptedServer(respond) as server, client_for(server) as client:
        exchanges = [client.send(case), client.send(case)]

    assert [e.status for e in exchanges] == [200, 200]
    assert [e.raw for e in exchanges] == [body, body]
    assert len(dropped) == 1
    assert len(server.received) == 2  # the dropped request came again, on a new connection
