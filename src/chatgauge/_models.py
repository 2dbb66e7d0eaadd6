"""The core values: a :class:`ChatCase` is what to send, a :class:`ChatExchange` is what happened.

Data flows one way: case -> client -> exchange -> checks / metrics -> results. Both halves of
chatgauge (conformance and load) read the same exchange, so they can never disagree about
what was received.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatgauge._bounded import BodyDigest
from chatgauge._jsonguard import parse_json
from chatgauge._limits import LimitName
from chatgauge._sse import FramingFacts, SSEEvent

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class ChatCase:
    """One request to ``POST {base_url}/chat/completions``.

    ``body`` is the JSON request body. ``raw_body`` replaces it byte for byte when a test
    needs to send something that is not a JSON object (malformed JSON, a list, ...).
    ``headers`` are extra request headers; ``omit_auth`` sends no Authorization header and
    ``api_key_override`` sends another key than the configured one (auth checks).
    ``read_timeout_s`` overrides the client's longest wait between two reads for this
    request only (a probe that may hang on purpose must not hold a run for a minute), and
    ``total_timeout_s`` its total deadline (:attr:`Limits.total_timeout_s
    <chatgauge._limits.Limits.total_timeout_s>`). ``stop_after_events`` makes the client
    stop reading a stream once that many events were dispatched: a request whose answer
    is only judged up to a limit (``max_tokens`` 3) needs no more once the stream ran far
    past it; the exchange then says :attr:`ChatExchange.stopped_reading`.
    """

    body: Mapping[str, Any]
    label: str = ""
    raw_body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    omit_auth: bool = False
    api_key_override: str | None = field(default=None, repr=False)
    read_timeout_s: float | None = None
    total_timeout_s: float | None = None
    stop_after_events: int | None = None

    def __post_init__(self) -> None:
        if self.stop_after_events is not None and self.stop_after_events < 1:
            raise ValueError(
                f"stop_after_events must be at least 1, got {self.stop_after_events!r}"
            )

    @property
    def stream(self) -> bool:
        """Whether the request asks for a streamed (SSE) response."""
        return self.raw_body is None and self.body.get("stream") is True

    def content(self) -> bytes:
        """The exact request body bytes."""
        if self.raw_body is not None:
            return self.raw_body
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class TimedEvent:
    """A dispatched SSE event stamped with ``time.perf_counter_ns()`` at arrival.

    ``read_index`` numbers the network read that completed the event: several events with
    the same index arrived in one read (clumping, as behind a buffering proxy).
    """

    event: SSEEvent
    arrived_ns: int
    read_index: int

    @property
    def data(self) -> str:
        """The event's data payload."""
        return self.event.data

    def json(self) -> Any:
        """The data payload parsed as JSON (raises ``ValueError``, and only that, when it is
        not JSON or nests deeper than :data:`~chatgauge._jsonguard.MAX_JSON_DEPTH`)."""
        return parse_json(self.event.data)


class BodyNotKept(ValueError):
    """The body was longer than the client keeps whole, so it cannot be parsed."""


@dataclass(frozen=True)
class ChatExchange:
    """Everything observed for one :class:`ChatCase`.

    Stamps are ``time.perf_counter_ns()`` values (one monotonic clock): ``t_send_ns`` just
    before the request is written, ``t_headers_ns`` when the status line and headers were
    read, ``t_first_event_ns`` at the first dispatched SSE event, ``t_done_ns`` when the
    body ended (or the transport failed). ``error_kind`` is set when no complete response
    was received: ``timeout``, ``connection``, ``protocol`` or ``limit``; ``error`` then
    says why (with any secret redacted). ``limit`` names the
    :class:`~chatgauge._limits.Limits` field whose bound ended the request
    (``total_timeout_s`` with kind ``timeout``, the others with kind ``limit``), ``None``
    when no bound did. ``stopped_reading`` is true when the client itself stopped reading
    the stream at the case's ``stop_after_events`` (no error: the endpoint was still
    sending, so the stream's end was never seen).

    The repr shows the label, URL, status, sizes and error kind, never endpoint text.

    What is kept is bounded (see :class:`~chatgauge._limits.Limits`):

    - ``raw`` is the body as received when it was at most ``keep_body_bytes``; otherwise
      its first ``excerpt_bytes``, with :attr:`body` giving the last ones (``tail``), the
      size of the whole and its SHA-256 (``digest`` is ``None`` only in an exchange built
      by hand, whose ``raw`` is then the whole body).
    - ``events`` are the first ``keep_events`` events then the last ``keep_tail_events``;
      ``events_omitted`` came between them, at index ``events_omitted_at``.
    - ``read_sizes`` are the sizes of the first ``keep_events`` reads;
      ``reads_omitted`` reads came after them.
    """

    case: ChatCase
    url: str
    status: int | None
    headers: Mapping[str, str]
    raw: bytes
    t_send_ns: int
    t_headers_ns: int | None
    t_done_ns: int
    events: tuple[TimedEvent, ...] = ()
    framing: FramingFacts | None = None
    read_sizes: tuple[int, ...] = ()
    error_kind: str | None = None
    error: str | None = None
    digest: BodyDigest | None = None
    events_omitted: int = 0
    events_omitted_at: int = 0
    reads_omitted: int = 0
    limit: LimitName | None = None
    stopped_reading: bool = False

    def __repr__(self) -> str:
        # Endpoint text stays out: a body or an event may echo the API key, hold terminal
        # escapes or be megabytes long, and reprs end up in logs and assertion messages.
        return (
            f"ChatExchange(label={self.case.label!r}, url={self.url!r}, status={self.status}, "
            f"body={self.digest.size if self.digest else len(self.raw)} bytes, "
            f"events={self.event_count}, "
            f"error_kind={self.error_kind!r}, limit={self.limit!r}"
            + (", stopped_reading=True)" if self.stopped_reading else ")")
        )

    @property
    def body(self) -> BodyDigest:
        """Size, SHA-256 and whether ``raw`` holds the whole body (``tail`` if not)."""
        return self.digest if self.digest is not None else BodyDigest.of(self.raw)

    @property
    def event_count(self) -> int:
        """Every event dispatched, kept or not."""
        return len(self.events) + self.events_omitted

    @property
    def read_count(self) -> int:
        """Every read of the body, its size kept or not."""
        return len(self.read_sizes) + self.reads_omitted

    @property
    def t_first_event_ns(self) -> int | None:
        """Arrival stamp of the first dispatched SSE event, if any."""
        return self.events[0].arrived_ns if self.events else None

    @property
    def content_type(self) -> str:
        """The response ``Content-Type`` header ('' when absent)."""
        return self.headers.get("content-type", "")

    @property
    def is_event_stream(self) -> bool:
        """Whether the response declared ``text/event-stream``."""
        return self.content_type.split(";")[0].strip().lower() == "text/event-stream"

    def json(self) -> Any:
        """The whole body parsed as JSON.

        Raises ``ValueError``, and only that: when the body is not JSON, nests deeper than
        :data:`~chatgauge._jsonguard.MAX_JSON_DEPTH`, or was not kept whole
        (:class:`BodyNotKept`).
        """
        if self.digest is not None and not self.digest.kept_whole:
            raise BodyNotKept(
                f"the body ({self.digest.size} bytes) was too long to keep whole, so it was "
                "not parsed"
            )
        return parse_json(self.raw)

    def json_or_none(self) -> Any:
        """The whole body parsed as JSON, or ``None`` when :meth:`json` raises."""
        try:
            return self.json()
        except ValueError:
            return None

    def data_events(self) -> list[TimedEvent]:
        """The dispatched events, in arrival order."""
        return list(self.events)

    def chunks(self) -> list[JSONObject]:
        """Every kept event payload before ``[DONE]`` that parses as a JSON object."""
        out: list[JSONObject] = []
        for ev in self.events:
            if ev.data == "[DONE]":
                break
            try:
                value = parse_json(ev.data)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out
