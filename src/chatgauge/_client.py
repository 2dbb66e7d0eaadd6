"""The timed client: sends a :class:`ChatCase`, records a :class:`ChatExchange`.

The response body is read as it came off the wire (``Accept-Encoding: identity`` and
httpx's ``iter_raw``, so nothing is decompressed or re-split), and each dispatched SSE event
is stamped with ``time.perf_counter_ns()`` taken once per read, right after that read
returned. Transport failures never raise: they come back as an exchange with
``error_kind`` set, holding whatever had arrived until then.

Every request is held to the config's :class:`~chatgauge._limits.Limits` (a total deadline
on top of the read timeout, caps on the body, events, lines, interim responses and heads,
see :mod:`chatgauge._transport`), and what the exchange keeps is bounded: the body whole up
to ``keep_body_bytes``, else its head and tail with its size and SHA-256; the first and last
events. A crossed bound ends the request at once, as ``error_kind`` ``limit`` (or
``timeout`` for the deadline) with ``ChatExchange.limit`` naming it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from chatgauge._bounded import BodyKeeper, HeadTailKeeper
from chatgauge._limits import LimitExceeded, LimitName, Limits, body_message, events_message
from chatgauge._models import ChatCase, ChatExchange, TimedEvent
from chatgauge._secret import Secret, redact
from chatgauge._sse import FramingFacts, SSEDecodeError, SSEDecoder, SSEEvent
from chatgauge._transport import BoundedTransport
from chatgauge._version import __version__

EventCallback = Callable[[TimedEvent], None]

_BASE_URL_ENV = "OPENAI_BASE_URL"
_API_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to send requests.

    ``base_url`` follows the OpenAI SDK convention: it includes the API prefix (for example
    ``http://127.0.0.1:8000/v1``), and requests go to ``{base_url}/chat/completions``. It
    must be an http(s) URL with a host and without credentials, query or fragment; a
    trailing slash is dropped. ``read_timeout_s`` bounds the gap between two reads, not the
    whole response; ``limits.total_timeout_s`` bounds the whole response, and the other
    :class:`~chatgauge._limits.Limits` what the endpoint may send and what an exchange
    keeps (the defaults never bind on a working endpoint). TLS certificates are verified
    unless ``verify_tls`` is explicitly false. ``extra_headers`` go with every request;
    they are left out of the repr because gateways often carry credentials in custom
    headers.
    """

    base_url: str
    api_key: Secret | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    verify_tls: bool = True
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", _normalise_base_url(self.base_url))
        if self.api_key and not _sendable_key(self.api_key.reveal()):
            raise ValueError("the API key has characters that cannot be sent in an HTTP header")
        for name in ("connect_timeout_s", "read_timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")

    @classmethod
    def from_env(
        cls,
        base_url: str | None = None,
        api_key: str | Secret | None = None,
        *,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        verify_tls: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        limits: Limits | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Build a config, taking a missing base URL or key from the environment.

        ``base_url`` falls back to ``OPENAI_BASE_URL`` and ``api_key`` to
        ``OPENAI_API_KEY`` (read from ``environ``, default ``os.environ``); an empty key
        means no key. Raises ``ValueError`` when no base URL is given either way.
        """
        env = os.environ if environ is None else environ
        url = base_url if base_url is not None else env.get(_BASE_URL_ENV)
        if not url:
            raise ValueError(f"no base URL: pass one or set {_BASE_URL_ENV}")
        key = api_key if api_key is not None else env.get(_API_KEY_ENV)
        secret = key if isinstance(key, Secret) else Secret(key) if key else None
        return cls(
            base_url=url,
            api_key=secret,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            verify_tls=verify_tls,
            extra_headers=dict(extra_headers or {}),
            limits=limits or Limits(),
        )


def _normalise_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
    if parts.username is not None or parts.password is not None:
        # The URL is not echoed: it holds a credential.
        raise ValueError("base URL must not contain credentials; pass the API key instead")
    if not parts.hostname:
        raise ValueError(f"base URL has no host: {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL must not have a query or fragment: {url!r}")
    normalised = parts.geturl().rstrip("/")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
        httpx.URL(normalised)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ValueError(f"base URL is not valid ({exc}): {url!r}") from None
    return normalised


def _sendable_key(key: str) -> bool:
    # Printable ASCII only: anything else is refused by the HTTP stack with an error message
    # that quotes the header value, key included.
    return all("!" <= ch <= "~" for ch in key)


class _StopReading(Exception):
    """The case's ``stop_after_events`` was reached: the client stops reading, by choice."""


class EndpointError(Exception):
    """The endpoint did not give a usable answer to a helper request (``list_models``)."""


class ChatClient:
    """A synchronous client over one httpx connection pool; use it as a context manager.

    Redirects are not followed (a 3xx is recorded as it is) and proxy, netrc and CA settings
    from the environment are ignored, so that what is timed is the endpoint itself.
    ``ssl_context`` is the TLS context in force (certificate and host name checked unless
    the config says ``verify_tls=False``).
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.ssl_context = httpx.create_ssl_context(verify=config.verify_tls, trust_env=False)
        self._transport = BoundedTransport(self.ssl_context)
        self._http = httpx.Client(
            transport=self._transport,
            timeout=httpx.Timeout(
                connect=config.connect_timeout_s,
                read=config.read_timeout_s,
                write=config.read_timeout_s,
                pool=config.connect_timeout_s,
            ),
            follow_redirects=False,
            trust_env=False,
            headers={
                "User-Agent": f"chatgauge/{__version__}",
                "Accept": "application/json",
                # Exact bytes and exact arrival times: a compressed body would arrive in
                # compressor-sized pieces and hide the server's own framing.
                "Accept-Encoding": "identity",
                **config.extra_headers,
            },
        )

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def send(self, case: ChatCase, on_event: EventCallback | None = None) -> ChatExchange:
        """POST ``case`` to ``{base_url}/chat/completions`` and record what happened.

        The body is decoded as SSE when the case asks for a stream or the response says
        ``text/event-stream``; otherwise the whole body is kept in ``raw`` only.
        ``on_event`` sees each event as soon as it is stamped (to show a stream live); it
        runs between two reads, so it must be quick or it delays the next stamp. It sees
        every event, also those the exchange does not keep. With ``case.stop_after_events``
        the client closes the response once that many events were dispatched and returns
        what it read, with ``stopped_reading`` set and no error.
        """
        headers = httpx.Headers({"Content-Type": "application/json", **self._auth_headers(case)})
        headers.update(case.headers)  # replaces by name, whatever the letter case
        timeout = self._http.timeout
        if case.read_timeout_s is not None:
            timeout = httpx.Timeout(
                connect=self.config.connect_timeout_s,
                read=case.read_timeout_s,
                write=case.read_timeout_s,
                pool=self.config.connect_timeout_s,
            )
        request = self._http.build_request(
            "POST",
            f"{self.config.base_url}/chat/completions",
            content=case.content(),
            headers=headers,
            timeout=timeout,
        )
        exchange, reused = self._exchange(request, case, on_event)
        if reused and _no_answer(exchange):
            # HTTP/1.1 lets a server close an idle kept-alive connection, and some do so
            # right after an error response without saying "Connection: close". A request
            # that then dies on that connection never reached the server: send it once more,
            # on a new connection, rather than blame the endpoint for not answering it.
            exchange, _ = self._exchange(request, case, on_event)
        return exchange

    def get(self, path: str) -> ChatExchange:
        """GET ``{base_url}{path}`` (for example ``/models``) with the configured key."""
        case = ChatCase(body={}, label=f"GET {path}")
        request = self._http.build_request(
            "GET", f"{self.config.base_url}{path}", headers=self._auth_headers(case)
        )
        return self._exchange(request, case)[0]

    def list_models(self) -> list[str]:
        """The model ids from ``GET {base_url}/models``; raises :class:`EndpointError`."""
        exchange = self.get("/models")
        if exchange.error_kind is not None:
            raise EndpointError(f"GET {exchange.url} failed: {exchange.error}")
        if exchange.status != 200:
            raise EndpointError(f"GET {exchange.url} answered HTTP {exchange.status}")
        body = exchange.json_or_none()
        entries = body.get("data") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise EndpointError(f"GET {exchange.url} did not return a model list")
        return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]

    def _auth_headers(self, case: ChatCase) -> dict[str, str]:
        if case.omit_auth:
            return {}
        key = case.api_key_override
        if key is not None and not _sendable_key(key):
            raise ValueError("case.api_key_override cannot be sent in an HTTP header")
        if key is None and self.config.api_key:
            key = self.config.api_key.reveal()
        return {"Authorization": f"Bearer {key}"} if key is not None else {}

    def _exchange(
        self, request: httpx.Request, case: ChatCase, on_event: EventCallback | None = None
    ) -> tuple[ChatExchange, bool]:
        """The exchange, and whether it went over a connection kept alive from before."""
        limits = self.config.limits
        recorder = _Recorder(case, str(request.url), on_event, limits)
        decoder: SSEDecoder | None = None
        # httpcore calls the trace hook just before it writes the request headers, i.e.
        # after any connect / TLS handshake: the latest possible send stamp.
        request.extensions["trace"] = recorder.on_trace
        recorder.t_send_ns = time.perf_counter_ns()
        try:
            with self._transport.budget(limits, case.total_timeout_s):
                response = self._http.send(request, stream=True)
                try:
                    recorder.on_headers(response)
                    if case.stream or recorder.is_event_stream():
                        decoder = SSEDecoder(max_line_bytes=limits.max_line_bytes)
                    # iter_raw: the body undecoded, one piece per read of the transport.
                    for piece in response.iter_raw():
                        recorder.on_read(piece, decoder)
                    recorder.on_eof(decoder)
                finally:
                    response.close()
        except _StopReading:
            recorder.stop_reading()
        except LimitExceeded as exc:
            # Before SSEDecodeError: a line over the limit is both.
            recorder.fail(exc.kind, exc, limit=exc.limit)
        except httpx.TimeoutException as exc:
            recorder.fail("timeout", exc)
        except httpx.NetworkError as exc:
            recorder.fail("connection", exc)
        except (httpx.ProtocolError, SSEDecodeError) as exc:
            recorder.fail("protocol", exc)
        if decoder is not None and recorder.framing is None:
            # The facts snapshot costs about as much as decoding an event: take it once,
            # at EOF or here after a failure, never per read.
            recorder.framing = decoder.facts
        secrets = [self.config.api_key]
        if case.api_key_override:
            secrets.append(Secret(case.api_key_override))
        return recorder.result(secrets), not recorder.connected


def _no_answer(exchange: ChatExchange) -> bool:
    """Whether the transport failed before a single byte of a response arrived."""
    return exchange.error_kind in ("connection", "protocol") and exchange.status is None


class _Recorder:
    """Collects the stamps, bytes and events of one exchange as they happen."""

    def __init__(
        self, case: ChatCase, url: str, on_event: EventCallback | None, limits: Limits
    ) -> None:
        self.case = case
        self.url = url
        self._on_event = on_event
        self._limits = limits
        self.t_send_ns = 0
        self._traced_send_ns: int | None = None
        self.t_headers_ns: int | None = None
        self.t_done_ns = 0
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = BodyKeeper(limits.keep_body_bytes, limits.excerpt_bytes)
        self.reads: HeadTailKeeper[int] = HeadTailKeeper(limits.keep_events, 0)
        self.events: HeadTailKeeper[TimedEvent] = HeadTailKeeper(
            limits.keep_events, limits.keep_tail_events
        )
        self.framing: FramingFacts | None = None
        self.error_kind: str | None = None
        self.error: str | None = None
        self.limit: LimitName | None = None
        self.stopped_reading = False
        self.connected = False  # a new TCP connection was opened for this request

    def on_trace(self, name: str, info: Mapping[str, Any]) -> None:
        if name == "connection.connect_tcp.started":
            self.connected = True
        if name.endswith("send_request_headers.started"):
            self._traced_send_ns = time.perf_counter_ns()

    def on_headers(self, response: httpx.Response) -> None:
        self.t_headers_ns = time.perf_counter_ns()
        self.status = response.status_code
        # Names lower-cased; a repeated header is folded into one comma-joined value.
        self.headers = dict(response.headers.items())
        announced = self.headers.get("content-length", "")
        if (
            announced.isascii()
            and announced.isdigit()
            and (len(announced) > 19 or int(announced) > self._limits.max_body_bytes)
        ):
            # No need to read the first 16 MiB of an answer announced to be longer.
            raise LimitExceeded(
                "max_body_bytes", f"{body_message(self._limits)} (Content-Length {announced})"
            )

    def is_event_stream(self) -> bool:
        media_type = self.headers.get("content-type", "").split(";")[0]
        return media_type.strip().lower() == "text/event-stream"

    def on_read(self, piece: bytes, decoder: SSEDecoder | None) -> None:
        arrived_ns = time.perf_counter_ns()
        read_index = self.reads.count
        self.reads.add(len(piece))
        body = self.body
        body.add(piece)
        if body.size > self._limits.max_body_bytes:
            raise LimitExceeded("max_body_bytes", body_message(self._limits))
        if decoder is not None:
            self._stamp(decoder.feed(piece), arrived_ns, read_index)

    def on_eof(self, decoder: SSEDecoder | None) -> None:
        self.t_done_ns = time.perf_counter_ns()
        if decoder is not None:
            # Events completed only by EOF belong to the last read.
            self._stamp(decoder.close(), self.t_done_ns, max(self.reads.count - 1, 0))
            self.framing = decoder.facts

    def _stamp(self, events: list[SSEEvent], arrived_ns: int, read_index: int) -> None:
        kept = self.events
        for event in events:
            timed = TimedEvent(event, arrived_ns, read_index)
            kept.add(timed)
            if kept.count > self._limits.max_events:
                raise LimitExceeded("max_events", events_message(self._limits))
            if self._on_event is not None:
                self._on_event(timed)
            stop_after = self.case.stop_after_events
            if stop_after is not None and kept.count >= stop_after:
                # Events later in the same read are dropped: exactly stop_after are counted.
                raise _StopReading

    def stop_reading(self) -> None:
        self.t_done_ns = time.perf_counter_ns()
        self.stopped_reading = True

    def fail(self, kind: str, exc: Exception, limit: LimitName | None = None) -> None:
        self.t_done_ns = time.perf_counter_ns()
        self.error_kind = kind
        self.limit = limit
        if limit is not None:
            self.error = str(exc)  # already a sentence about the endpoint
        else:
            self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def result(self, secrets: list[Secret | None]) -> ChatExchange:
        error = self.error
        if error is not None:
            error = redact(" ".join(error.split()), *secrets)
        return ChatExchange(
            case=self.case,
            url=self.url,
            status=self.status,
            headers=self.headers,
            raw=self.body.raw(),
            t_send_ns=self._traced_send_ns or self.t_send_ns,
            t_headers_ns=self.t_headers_ns,
            t_done_ns=self.t_done_ns,
            events=self.events.kept(),
            framing=self.framing,
            read_sizes=tuple(self.reads.head),
            error_kind=self.error_kind,
            error=error,
            digest=self.body.digest(),
            events_omitted=self.events.omitted,
            events_omitted_at=len(self.events.head) if self.events.omitted else 0,
            reads_omitted=self.reads.omitted,
            limit=self.limit,
            stopped_reading=self.stopped_reading,
        )


__all__ = ["ChatClient", "ClientConfig", "EndpointError"]
