"""Locust users that time chat completions exactly: :class:`StreamingChatUser`, :class:`ChatUser`.

Each request becomes one :class:`RequestSample` with raw ``perf_counter_ns`` stamps, and is
also reported to locust (``events.request``) so it shows in locust's own statistics and web
UI: ``POST chat`` with the end-to-end time and, for streams, ``TTFT chat`` with the time to
first token (locust rounds these; chatgauge's exact figures come from the samples).

How a streamed body is read: each user owns one keep-alive connection
(:mod:`chatgauge.loadtests._http`); ``t_send`` is stamped immediately before the request is
written, every socket read is stamped with the moment its bytes arrived (the kernel's
receive time where there is one) and fed to chatgauge's shared
:class:`~chatgauge._sse.SSEDecoder`, so an event's arrival stamp is that of the read that
completed it. A token-bearing event is one whose ``delta`` has non-empty ``content``,
``reasoning_content`` / ``reasoning`` or ``tool_calls``; a role-only first chunk is never
one. N (output tokens) is ``usage.completion_tokens`` when the server sends usage (asked for
with ``stream_options.include_usage`` unless ``--no-usage``), else the token-bearing events
counted (tokens per event from ``logprobs.content`` when present, else one per choice).
The first chunk's ``id`` is kept as ``response_id`` so a sample can be matched with the
server's own logs (the benchmark compares with the reference server's timing log). Text that
came from the endpoint (error messages, the id) is made safe where it enters the sample: the
API key masked first, lone surrogates escaped, then shortened.

Errors, by kind: ``http`` (status >= 300; a redirect is named as one, with its target, and
never followed), ``timeout`` (connect or read timeout, or the total deadline),
``connection`` (refused, reset, closed early), ``malformed`` (an invalid HTTP response, an
event whose data is not a JSON object, an in-band ``{"error": ...}`` event, or a stream that
ends without ``data: [DONE]``: the OpenAI protocol ends every stream with it, and a client
waiting for it would hang, so its absence is a failure, not a detail), ``limit`` (the answer
crossed a bound of ``--total-timeout``, ``--max-body-bytes``, ``--max-events``,
``--max-line-bytes``) and ``cut_off`` (still in flight when the run ended: recorded as the
user is stopped, so every request sent is counted).

After a refused or reset connection, a 429 or a 503 the user backs off before its next
request (:mod:`chatgauge.loadtests._backoff`, ``Retry-After`` honoured).

Only standard OpenAI fields are sent (``model``, ``messages``, ``max_tokens``, ``stream``,
``stream_options``); add others through :attr:`ChatUser.extra_body`. TLS certificates are
verified unless ``--insecure`` is given (locust's ``FastHttpUser`` does not verify by
default; these users do). The API key comes from ``$CHATGAUGE_API_KEY`` or
``$OPENAI_API_KEY``.

Use them in your own locustfile (locust picks up the concrete subclasses; taking them from
``chatgauge.loadtests`` hooks chatgauge's options and collector into locust, see
:mod:`chatgauge.loadtests._hooks`)::

    from chatgauge.loadtests import StreamingChatUser

    class LongAnswers(StreamingChatUser):
        extra_body = {"temperature": 0.2}

        def next_messages(self):
            return [{"role": "user", "content": "Explain TCP slow start in detail."}]

and run ``locust -f that_file.py --host http://127.0.0.1:8000/v1 --model NAME``. The
``self.client`` of these users is still locust's ``FastHttpSession`` for any other request.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import gevent
from gevent import GreenletExit
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.exception import StopUser

from chatgauge._jsonguard import parse_json
from chatgauge._secret import Secret
from chatgauge._sse import SSEDecodeError, SSEEvent
from chatgauge._version import __version__
from chatgauge.loadtests._backoff import Backoff, retry_after_s
from chatgauge.loadtests._hooks import load_session
from chatgauge.loadtests._http import (
    Connection,
    HttpTransportError,
    Origin,
    Response,
    request_head,
)
from chatgauge.loadtests._prompts import Messages
from chatgauge.loadtests._samples import ErrorKind, RequestSample, TokenSource
from chatgauge.loadtests._traffic import Traffic
from chatgauge.loadtests._workloads import Conversation, PlannedRequest
from chatgauge.results import safe_text

ERROR_BODY_LIMIT = 64 * 1024
BODY_LIMIT = 16 * 1024 * 1024
ERROR_TEXT_LIMIT = 400
"""Characters of an error message a sample keeps (after the key is masked)."""
ID_TEXT_LIMIT = 200
_NS_PER_MS = 1_000_000
_user_numbers = itertools.count()


class RequestFailure(Exception):
    """A failed request as locust's statistics show it: ``kind: message``."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: ErrorKind = kind
        self.message = message


class ChatUser(FastHttpUser):
    """Sends non-streamed chat completions in a closed loop, or at ``--rate`` (see module doc).

    Abstract: subclass it in a locustfile. Override :meth:`next_messages` for other prompts,
    :meth:`request_body` for another body, :attr:`extra_body` to add fields.
    """

    abstract = True
    insecure = False
    stream: bool = False
    request_name: ClassVar[str] = "chat"
    extra_body: ClassVar[Mapping[str, Any]] = {}
    wait_time = constant(0)

    def __init__(self, environment: Environment) -> None:
        self.traffic: Traffic = load_session(environment).traffic
        settings = self.traffic.options
        if not settings.verify_tls:
            self.insecure = True
        super().__init__(environment)
        self.connection = Connection(
            Origin.from_url(environment.host or ""),
            verify_tls=settings.verify_tls,
            read_timeout_s=settings.request_timeout_s,
            connect_timeout_s=min(settings.request_timeout_s, 10.0),
            limits=settings.verdicts.limits,
        )
        self._prompt_index = next(_user_numbers)
        # A workload's request for the next send, and this user's session (--turns).
        self._planned: PlannedRequest | None = None
        self._answer: str | None = None
        turns = settings.workload.turns
        self._conversation = Conversation() if turns > 1 else None
        self.backoff = Backoff(settings.verdicts.max_backoff_s, seed=self._prompt_index)
        self._retry_after: float | None = None
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if self.stream else "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": f"chatgauge/{__version__}",
        }
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key.reveal()}"
        self._head = request_head(
            "POST", f"{self.connection.origin.prefix}/chat/completions", headers
        )

    def on_stop(self) -> None:
        """Close the timed connection when the user stops."""
        self.connection.close()

    @task
    def chat_completion(self) -> None:
        """One request (waiting for its slot in open-loop mode)."""
        if not self.traffic.acquire():
            raise StopUser
        sample = self.send_chat(self.next_messages())
        delay = self.backoff.delay_after(sample, self._retry_after)
        if delay > 0:
            self.traffic.backoffs += 1
            gevent.sleep(delay)

    def next_messages(self) -> Messages:
        """The messages of the next request: the workload's next request when the run has
        one (lengths, dataset, trace, sessions), else the prompt set, round-robin per user."""
        workload = self.traffic.workload
        if workload is not None:
            self._continue_session()
            planned = workload.next_request(self._conversation)
            if planned is None:
                raise StopUser  # the trace is used up
            self._planned = planned
            return planned.messages
        self._prompt_index += 1
        return self.traffic.prompts.pick(self._prompt_index)

    def _continue_session(self) -> None:
        """Keep the last answer in this user's conversation; start over after the last turn
        (or a failed turn), pausing ``--think-time`` between the turns of one session."""
        conversation = self._conversation
        if conversation is None or not conversation.messages:
            return
        options = self.traffic.options.workload
        if self._answer is None or conversation.turn >= options.turns:
            conversation.messages = []
            conversation.turn = 0
            return
        conversation.messages.append({"role": "assistant", "content": self._answer})
        if options.think_time_s:
            gevent.sleep(options.think_time_s)

    def request_body(self, messages: Messages) -> dict[str, Any]:
        """The JSON body: standard OpenAI fields plus :attr:`extra_body`."""
        settings = self.traffic.options
        body: dict[str, Any] = {
            "model": self.traffic.model(self.connection),
            "messages": messages,
            "max_tokens": settings.max_tokens,
        }
        planned = self._planned
        if planned is not None and planned.max_tokens is not None:
            body["max_tokens"] = planned.max_tokens
        if self.stream:
            body["stream"] = True
            if settings.include_usage:
                body["stream_options"] = {"include_usage": True}
        body.update(self.extra_body)
        return body

    def send_chat(self, messages: Messages) -> RequestSample:
        """Send one request, record its sample and report it to locust; return the sample."""
        body = json.dumps(self.request_body(messages), separators=(",", ":")).encode()
        head = self._head + f"Content-Length: {len(body)}\r\n".encode()
        traffic = self.traffic
        planned = self._planned
        scheduled = planned is None or planned.t_sched_ns is None
        if not scheduled and planned is not None:
            t_sched: int | None = planned.t_sched_ns  # a trace's own moment (open loop)
        else:
            t_sched = traffic.next_start_ns()
        if t_sched is not None:
            delay = t_sched - time.perf_counter_ns()
            if delay > 0:
                gevent.sleep(delay / 1e9)
        timing = _Timing(t_sched, traffic.worker, traffic.secret)
        traffic.in_flight += 1
        try:
            sample = self._exchange(head, body, timing)
        except GreenletExit:
            # The run ended with this request in flight: count it, cut off, then stop. One
            # whose bytes never went out (killed while connecting) was never made.
            if self.connection.sent_ns:
                timing.t_send = timing.t_send or self.connection.sent_ns
                traffic.record(timing.cut_off())
            elif t_sched is not None and scheduled:
                traffic.miss(t_sched)  # due by the schedule, never went out
            raise
        finally:
            traffic.in_flight -= 1
        traffic.record(sample)
        self._report(sample)
        return sample

    def _exchange(self, head: bytes, body: bytes, timing: _Timing) -> RequestSample:
        sample = self._timed_exchange(head, body, timing)
        planned = self._planned
        if planned is None:
            return sample
        asked = planned.max_tokens or self.traffic.options.max_tokens
        return dataclasses.replace(
            sample, asked_input_tokens=planned.asked_input_tokens, asked_output_tokens=asked
        )

    def _timed_exchange(self, head: bytes, body: bytes, timing: _Timing) -> RequestSample:
        timing.text = [] if self._conversation is not None else None
        self._answer = None
        self._retry_after = None
        try:
            timing.t_send, response = self.connection.request(head, body)
            timing.t_headers = response.t_headers_ns
            timing.status = response.status
            if response.status >= 300:  # redirects are not followed: not an answer either
                self._retry_after = retry_after_s(response.headers.get("retry-after"))
                text = response.read_all(ERROR_BODY_LIMIT)
                return timing.failed("http", _http_error(response, text))
            sample = _read_stream(response, timing) if self.stream else _read_json(response, timing)
        except HttpTransportError as exc:
            return timing.failed(exc.kind, str(exc))  # type: ignore[arg-type]
        if sample.ok and timing.text is not None:
            self._answer = "".join(timing.text)
        return sample

    def _report(self, sample: RequestSample) -> None:
        fire = self.environment.events.request.fire
        e2e_ms = (sample.t_done_ns - sample.t_send_ns) / _NS_PER_MS
        failure = None
        if sample.error_kind is not None:
            failure = RequestFailure(sample.error_kind, sample.error or "")
        fire(
            request_type="POST",
            name=self.request_name,
            response_time=e2e_ms,
            response_length=sample.output_tokens,
            exception=failure,
            context={},
        )
        first = sample.t_first_token_ns
        if sample.ok and first is not None:
            fire(
                request_type="TTFT",
                name=self.request_name,
                response_time=(first - sample.t_send_ns) / _NS_PER_MS,
                response_length=sample.output_tokens,
                exception=None,
                context={},
            )


class StreamingChatUser(ChatUser):
    """Sends streamed chat completions (``stream: true``) and times every token event."""

    abstract = True
    stream = True


class _Timing:
    """The stamps of one request as they are taken (becomes a :class:`RequestSample`)."""

    __slots__ = (
        "secret",
        "status",
        "t_begin",
        "t_headers",
        "t_sched",
        "t_send",
        "text",
        "worker",
    )

    def __init__(self, t_sched: int | None, worker: str, secret: Secret | None) -> None:
        # Before connecting: the send stamp of a request that failed or was cut off before
        # its bytes went out (so it belongs to the window it was attempted in).
        self.t_begin = time.perf_counter_ns()
        self.t_sched = t_sched
        self.worker = worker
        self.secret = secret
        self.t_send = 0
        self.t_headers: int | None = None
        self.status: int | None = None
        self.text: list[str] | None = None  # the answer's text, kept for sessions only

    def failed(self, kind: ErrorKind, message: str, **stamps: Any) -> RequestSample:
        return self.sample(error_kind=kind, error=message, **stamps)

    def cut_off(self) -> RequestSample:
        """The sample of a request the end of the run cut off (stamped now)."""
        since = (time.perf_counter_ns() - (self.t_send or self.t_begin)) / 1e9
        answer = "" if self.t_headers is None else ", answer under way"
        return self.failed(
            "cut_off", f"still in flight when the run ended, {since:.1f} s after it began{answer}"
        )

    def sample(self, **fields: Any) -> RequestSample:
        t_done = fields.pop("t_done_ns", None) or time.perf_counter_ns()
        t_send = self.t_send or min(self.t_begin, t_done)
        # Endpoint text is made safe here, once: the key masked before anything shortens it.
        error = fields.pop("error", None)
        if error is not None:
            fields["error"] = safe_text(error, self.secret, ERROR_TEXT_LIMIT)
        response_id = fields.pop("response_id", None)
        if response_id is not None:
            fields["response_id"] = safe_text(response_id, self.secret, ID_TEXT_LIMIT)
        return RequestSample(
            t_sched_ns=self.t_sched if self.t_sched is not None else t_send,
            t_send_ns=t_send,
            t_headers_ns=self.t_headers,
            t_first_event_ns=fields.pop("t_first_event_ns", None),
            t_done_ns=t_done,
            status=self.status,
            worker=self.worker,
            **fields,
        )


class _StreamTally:
    """What the events of one stream said, event by event (the hot path: kept lean)."""

    __slots__ = (
        "done",
        "first_event",
        "max_per_read",
        "problem",
        "prompt_tokens",
        "reads",
        "response_id",
        "text",
        "token_counts",
        "token_ns",
        "usage_tokens",
    )

    def __init__(self) -> None:
        self.first_event: int | None = None
        self.token_ns: list[int] = []
        self.token_counts: list[int] = []
        self.usage_tokens: int | None = None
        self.prompt_tokens: int | None = None
        self.done = False
        self.problem: str | None = None
        self.reads = 0
        self.max_per_read = 0
        self.response_id: str | None = None
        self.text: list[str] | None = None

    def events(self, events: list[SSEEvent], arrived: int) -> None:
        if self.first_event is None:
            self.first_event = arrived
        token_events = 0
        for event in events:
            data = event.data
            if data == "[DONE]":
                self.done = True
                continue
            try:
                chunk = parse_json(data)
                tokens = _tokens_in(chunk)
            except (ValueError, TypeError, AttributeError) as exc:
                self._fail(f"an event is not a chat.completion.chunk object ({exc}): {data}")
                continue
            if self.response_id is None and chunk.get("id") is not None:
                self.response_id = str(chunk["id"])
            if tokens:
                self.token_ns.append(arrived)
                self.token_counts.append(tokens)
                token_events += 1
                if self.text is not None:
                    self.text.append(_first_content(chunk))
            usage = chunk.get("usage")
            if usage:
                self._usage(usage)
            if chunk.get("error"):
                self._fail(f"the stream carried an error event: {data}")
        if token_events > self.max_per_read:
            self.max_per_read = token_events

    def _usage(self, usage: Any) -> None:
        completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(completion, int):
            self.usage_tokens = completion
            prompt = usage.get("prompt_tokens")
            self.prompt_tokens = prompt if isinstance(prompt, int) else None

    def _fail(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem


def _tokens_in(chunk: Any) -> int:
    """Tokens carried by one chunk's deltas (0 for role-only, finish or usage chunks)."""
    tokens = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta")
        if delta and (
            delta.get("content")
            or delta.get("reasoning_content")
            or delta.get("reasoning")
            or delta.get("tool_calls")
        ):
            logprobs = choice.get("logprobs")
            content = logprobs.get("content") if logprobs else None
            tokens += len(content) if isinstance(content, list) and content else 1
    return tokens


def _first_content(chunk: Any) -> str:
    """The content text of a chunk's first choice (sessions send it back)."""
    choices = chunk.get("choices") or ()
    delta = choices[0].get("delta") if choices else None
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def _read_stream(response: Response, timing: _Timing) -> RequestSample:
    """Read an event stream held to the connection's event and line limits."""
    tally = _StreamTally()
    tally.text = timing.text
    try:
        for arrived, events, size in response.events():
            if size:
                tally.reads += 1
            if events:
                tally.events(events, arrived)
    except SSEDecodeError as exc:
        tally._fail(f"invalid event stream: {exc}")
    except HttpTransportError as exc:
        return _stream_sample(timing, tally, error=(exc.kind, str(exc)))  # type: ignore[arg-type]
    if tally.problem is None and not tally.done:
        kind = response.headers.get("content-type", "")
        if tally.first_event is None and not kind.lower().startswith("text/event-stream"):
            tally._fail(
                f"asked for a stream, got no event stream (Content-Type {kind or 'missing'}, "
                "no data: [DONE])"
            )
        else:
            tally._fail("the stream ended without data: [DONE]")
    if tally.problem is not None:
        return _stream_sample(timing, tally, error=("malformed", tally.problem))
    return _stream_sample(timing, tally, error=None)


def _stream_sample(
    timing: _Timing, tally: _StreamTally, *, error: tuple[ErrorKind, str] | None
) -> RequestSample:
    source: TokenSource = "usage" if tally.usage_tokens is not None else "events"
    tokens = tally.usage_tokens if tally.usage_tokens is not None else sum(tally.token_counts)
    return timing.sample(
        t_first_event_ns=tally.first_event,
        token_event_ns=tuple(tally.token_ns),
        token_event_counts=tuple(tally.token_counts),
        output_tokens=tokens,
        token_source=source,
        prompt_tokens=tally.prompt_tokens,
        reads=tally.reads,
        max_events_per_read=tally.max_per_read,
        error_kind=error[0] if error else None,
        error=error[1] if error else None,
        response_id=tally.response_id,
    )


def _read_json(response: Response, timing: _Timing) -> RequestSample:
    text = response.read_all(BODY_LIMIT)
    try:
        body = parse_json(text)
        usage = body.get("usage") or {}
        completion = usage.get("completion_tokens")
        prompt = usage.get("prompt_tokens")
    except (ValueError, AttributeError) as exc:
        return timing.failed("malformed", f"the response body is not a JSON object ({exc})")
    if body.get("error"):
        return timing.failed("malformed", f"status 200 with an error body: {text!r}")
    if timing.text is not None:
        timing.text.append(_message_content(body))
    return timing.sample(
        output_tokens=completion if isinstance(completion, int) else 0,
        token_source="usage" if isinstance(completion, int) else "events",
        prompt_tokens=prompt if isinstance(prompt, int) else None,
        reads=1,
    )


def _message_content(body: Any) -> str:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def _http_error(response: Response, body: bytes) -> str:
    """``HTTP 429: <the error message>`` from an OpenAI error envelope, else the raw body; a
    redirect says so, with its target (redirects are not followed)."""
    status = response.status
    if 300 <= status < 400:
        target = response.headers.get("location", "no Location")
        return (
            f"HTTP {status} redirect to {target} (not followed: give the final URL as the base URL)"
        )
    text = body.decode("utf-8", "replace")
    try:
        message = parse_json(text)["error"]["message"]
        if isinstance(message, str):
            return f"HTTP {status}: {message}"
    except (ValueError, KeyError, TypeError):
        pass
    return f"HTTP {status}: {text}"
