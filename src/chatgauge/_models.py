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
    request only (a probe that may hang on purpose must not hold a run for a minute).
    """

    body: Mapping[str, Any]
    label: str = ""
    raw_body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    omit_auth: bool = False
    api_key_override: str | None = field(default=None, repr=False)
    read_timeout_s: float | None = None

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
        """The data payload parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.event.data)


@dataclass(frozen=True)
class ChatExchange:
    """Everything observed for one :class:`ChatCase`.

    Stamps are ``time.perf_counter_ns()`` values (one monotonic clock): ``t_send_ns`` just
    before the request is written, ``t_headers_ns`` when the status line and headers were
    read, ``t_first_event_ns`` at the first dispatched SSE event, ``t_done_ns`` when the
    body ended (or the transport failed). ``error_kind`` is set when no complete response
    was received: ``timeout``, ``connection`` or ``protocol``; ``error`` then says why (with
    any secret redacted).
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
        """The whole body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.raw)

    def json_or_none(self) -> Any:
        """The whole body parsed as JSON, or ``None`` when it does not parse."""
        try:
            return json.loads(self.raw)
        except ValueError:
            return None

    def data_events(self) -> list[TimedEvent]:
        """The dispatched events, in arrival order."""
        return list(self.events)

    def chunks(self) -> list[JSONObject]:
        """Every event payload before ``[DONE]`` that parses as a JSON object."""
        out: list[JSONObject] = []
        for ev in self.events:
            if ev.data == "[DONE]":
                break
            try:
                value = json.loads(ev.data)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out
