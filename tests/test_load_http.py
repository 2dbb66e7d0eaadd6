"""The load engine's HTTP/1.1 connection: chunked decoding, keep-alive, errors, on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from chatgauge.loadtests._http import (
    ChunkedDecoder,
    Connection,
    HttpProtocolError,
    HttpTimeout,
    HttpTransportError,
    Origin,
    request_head,
)
from chatgauge.server import ServerConfig, background_server
from tests.load_support import closed_port

FRAMED = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT"


def test_chunked_decoder_gives_the_payload_however_the_bytes_are_split() -> None:
    whole = ChunkedDecoder()
    assert whole.feed(FRAMED) == b"hello, world"
    assert whole.done
    assert whole.surplus == b"NEXT"
    for size in (1, 2, 3, 5):
        decoder = ChunkedDecoder()
        pieces = [decoder.feed(FRAMED[i : i + size]) for i in range(0, len(FRAMED), size)]
        assert b"".join(pieces) == b"hello, world"
        assert decoder.done
        assert decoder.surplus == b"NEXT"


@pytest.mark.parametrize(
    "framed",
    [b"zz\r\nhello\r\n", b"5\r\nhelloXX0\r\n\r\n", b"-5\r\nhello\r\n", b"0x5\r\nhello\r\n"],
)
def test_chunked_decoder_rejects_invalid_framing(framed: bytes) -> None:
    with pytest.raises(HttpProtocolError):
        ChunkedDecoder().feed(framed)


def test_origin_parses_base_urls_and_refuses_credentials() -> None:
    origin = Origin.from_url("https://example.test/v1/")
    assert (origin.scheme, origin.host, origin.port, origin.prefix) == (
        "https",
        "example.test",
        443,
        "/v1",
    )
    assert origin.host_header == "example.test"
    assert Origin.from_url("http://[::1]:8080/v1").host_header == "[::1]:8080"
    with pytest.raises(ValueError, match="credentials"):
        Origin.from_url("http://user:pw@example.test/v1")
    with pytest.raises(ValueError, match="http"):
        Origin.from_url("ftp://example.test")


def _chat_head(prefix: str, body: bytes) -> bytes:
    return request_head(
        "POST",
        f"{prefix}/chat/completions",
        {"Content-Type": "application/json", "Content-Length": str(len(body))},
    )


def test_a_connection_streams_chunked_bodies_and_is_reused() -> None:
    body = json.dumps(
        {"model": "pro", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    ).encode()
    with background_server(ServerConfig(port=0, itl_ms=1)) as url:
        connection = Connection(Origin.from_url(url))
        for attempt in range(3):
            t_send, response = connection.request(_chat_head("/v1", body), body)
            assert response.status == 200
            assert response.t_headers_ns >= t_send
            reads = list(response.reads())
            assert len(reads) > 1  # streamed: several reads, each stamped
            stamps = [stamp for stamp, _ in reads]
            assert stamps == sorted(stamps)
            assert b"".join(piece for _, piece in reads).endswith(b"data: [DONE]\n\n")
            if attempt:
                assert connection.connect_ns == 0  # the same socket again
        connection.close()


def test_a_closed_port_is_a_connection_error() -> None:
    connection = Connection(Origin.from_url(f"http://127.0.0.1:{closed_port()}/v1"))
    with pytest.raises(HttpTransportError) as caught:
        connection.request(_chat_head("/v1", b"{}"), b"{}")
    assert caught.value.kind == "connection"


def test_no_answer_within_the_read_timeout_is_a_timeout() -> None:
    with socket.socket() as silent:  # listens (the kernel accepts), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        connection = Connection(
            Origin.from_url(f"http://127.0.0.1:{silent.getsockname()[1]}"), read_timeout_s=0.2
        )
        with pytest.raises(HttpTimeout) as caught:
            connection.request(request_head("GET", "/", {}), b"")
    assert caught.value.kind == "timeout"


def test_a_stream_pausing_longer_than_the_read_timeout_is_a_timeout() -> None:
    body = json.dumps(
        {"model": "pro", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    ).encode()
    with background_server(ServerConfig(port=0, ttft_ms=1000)) as url:
        connection = Connection(Origin.from_url(url), read_timeout_s=0.2)
        _, response = connection.request(_chat_head("/v1", body), body)
        assert response.status == 200
        with pytest.raises(HttpTimeout):
            list(response.reads())


@pytest.fixture
def one_answer_per_connection() -> Iterator[tuple[str, list[int]]]:
    """A server that answers one request per connection, then closes it without saying so."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            with sock:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += sock.recv(4096)
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", connections
    listener.close()


def test_a_keep_alive_socket_closed_by_the_server_is_retried_once_on_a_new_one(
    one_answer_per_connection: tuple[str, list[int]],
) -> None:
    url, connections = one_answer_per_connection
    connection = Connection(Origin.from_url(url))
    head = request_head("GET", "/", {})
    for _ in range(3):
        _, response = connection.request(head, b"")
        assert response.status == 200
        assert response.read_all(100) == b"ok"
    assert len(connections) == 3
