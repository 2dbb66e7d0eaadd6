"""One record per load-test request: the raw stamps every metric is computed from.

A sample keeps every token-bearing event's arrival stamp, so inter-token gaps are exact and
a mid-stream stall stays visible in p99; nothing is rounded. Samples are result values of
the results layer's codec: they travel as JSON-ready dicts (locust ships them from workers to
the master; the raw-samples file ``samples.jsonl`` of :mod:`chatgauge.loadtests._spill` and
``--dump-samples`` write them as JSON lines) and are read back with
:meth:`RequestSample.from_json`, which checks every field, so merged statistics are computed
from exactly the numbers a single process would have used. Text that came from the endpoint
(``error``, ``response_id``) is made safe before it is stored (the API key masked, lone
surrogates escaped, shortened: :func:`chatgauge.results.safe_text`), so any sample can be
shipped and written.

All stamps are ``time.perf_counter_ns()`` values of the process that took them (one
monotonic clock per machine); ``None`` where the moment never came (e.g. no first token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chatgauge.results import JsonRecord

TokenSource = Literal["usage", "events"]
ErrorKind = Literal["http", "timeout", "connection", "malformed", "limit", "cut_off"]


@dataclass(frozen=True)
class RequestSample(JsonRecord):
    """What one request did, stamp by stamp.

    - ``t_sched_ns``: when the request was meant to start (open-loop rate mode), else equal
      to ``t_send_ns``; latency from it includes client-side queueing (coordinated
      omission corrected).
    - ``t_send_ns``: just before the request bytes were written.
    - ``t_headers_ns``: status line and headers read.
    - ``t_first_event_ns``: the first SSE data event (may be a role-only chunk).
    - ``token_event_ns``: arrival stamps of every token-bearing event (non-empty content,
      reasoning or tool-call delta), in order; a role-only chunk is never one.
    - ``token_event_counts``: how many tokens each of those events carried when known
      (usage-based split unknown: 1 each); same length as ``token_event_ns``.
    - ``t_done_ns``: ``[DONE]`` or the end of the body.
    - ``output_tokens`` and ``token_source``: N from ``usage.completion_tokens`` when the
      server sent usage, else the count of token-bearing events.
    - ``reads`` / ``max_events_per_read``: how the body arrived (clumping detection).
    - ``error_kind`` / ``error``: set for a failed request (``http``: status >= 300;
      ``timeout``; ``connection``; ``malformed`` stream; ``limit``: the answer crossed one of
      the connection's bounds; ``cut_off``: still in flight when the run ended, stamped
      ``t_done`` at the cut); a failed request is never good for goodput.
    - ``worker``: the process that took the sample (``local`` or the worker's id).
    - ``response_id``: the first chunk's ``id``, to match a sample with server logs.
    - ``asked_input_tokens`` / ``asked_output_tokens``: the lengths the workload asked for
      (input in the endpoint's tokens, output as ``max_tokens``), when it chose them.
    """

    t_sched_ns: int
    t_send_ns: int
    t_headers_ns: int | None
    t_first_event_ns: int | None
    t_done_ns: int
    token_event_ns: tuple[int, ...] = ()
    token_event_counts: tuple[int, ...] = ()
    output_tokens: int = 0
    token_source: TokenSource = "events"  # noqa: S105 - a token count source, not a secret
    prompt_tokens: int | None = None
    status: int | None = None
    reads: int = 0
    max_events_per_read: int = 0
    error_kind: ErrorKind | None = None
    error: str | None = None
    worker: str = ""
    response_id: str | None = None
    asked_input_tokens: int | None = None
    asked_output_tokens: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the request completed without error."""
        return self.error_kind is None

    @property
    def t_first_token_ns(self) -> int | None:
        """Arrival of the first token-bearing event."""
        return self.token_event_ns[0] if self.token_event_ns else None

    @property
    def t_last_token_ns(self) -> int | None:
        """Arrival of the last token-bearing event."""
        return self.token_event_ns[-1] if self.token_event_ns else None

    def to_json(self) -> dict[str, Any]:
        """JSON- and msgpack-ready data (what the codec derives, built directly: samples are
        encoded on the load-generating processes, so this stays cheap)."""
        return {
            "t_sched_ns": self.t_sched_ns,
            "t_send_ns": self.t_send_ns,
            "t_headers_ns": self.t_headers_ns,
            "t_first_event_ns": self.t_first_event_ns,
            "t_done_ns": self.t_done_ns,
            "token_event_ns": list(self.token_event_ns),
            "token_event_counts": list(self.token_event_counts),
            "output_tokens": self.output_tokens,
            "token_source": self.token_source,
            "prompt_tokens": self.prompt_tokens,
            "status": self.status,
            "reads": self.reads,
            "max_events_per_read": self.max_events_per_read,
            "error_kind": self.error_kind,
            "error": self.error,
            "worker": self.worker,
            "response_id": self.response_id,
            "asked_input_tokens": self.asked_input_tokens,
            "asked_output_tokens": self.asked_output_tokens,
        }
