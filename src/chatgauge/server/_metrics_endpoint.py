"""``GET /metrics``: the reference endpoint's own figures in the Prometheus text format.

What a scrape shows, each line a sample of one metric family (names in the spirit of vLLM's
``vllm:num_requests_running`` / ``vllm:num_requests_waiting``):

- ``chatgauge_requests_running`` (gauge): chat completions holding a slot now;
- ``chatgauge_requests_waiting`` (gauge): chat completions queued for a slot now;
- ``chatgauge_max_concurrency`` (gauge): the slot limit (absent without a limit);
- ``chatgauge_slot_usage_ratio`` (gauge): running / limit (the analogue of a KV-cache use);
- ``chatgauge_requests_admitted_total`` / ``chatgauge_requests_finished_total`` (counters);
- ``chatgauge_queue_wait_seconds_total`` (counter): time spent waiting for a slot.

The page is written by hand (text format 0.0.4): the server layer depends on no client
library, and the format of a handful of unlabelled samples is simple. Like vLLM's, the page
needs no API key: it holds counts only, never request content.
"""

from __future__ import annotations

from typing import Final

from chatgauge.server._concurrency import ConcurrencyGate

CONTENT_TYPE: Final = b"text/plain; version=0.0.4; charset=utf-8"


def _family(name: str, kind: str, help_text: str, value: float) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {value:.17g}\n"


def render_metrics(gate: ConcurrencyGate) -> bytes:
    """The exposition page of the gate's counters (see the module docstring)."""
    parts = [
        _family(
            "chatgauge_requests_running",
            "gauge",
            "Chat completions being served now.",
            gate.running,
        ),
        _family(
            "chatgauge_requests_waiting",
            "gauge",
            "Chat completions waiting for a free slot now.",
            gate.waiting,
        ),
    ]
    if gate.limit is not None:
        parts.append(
            _family(
                "chatgauge_max_concurrency",
                "gauge",
                "Chat completions served at once at most.",
                gate.limit,
            )
        )
        parts.append(
            _family(
                "chatgauge_slot_usage_ratio",
                "gauge",
                "Fraction of the slots in use.",
                gate.running / gate.limit,
            )
        )
    parts += [
        _family(
            "chatgauge_requests_admitted_total",
            "counter",
            "Chat completions that got a slot.",
            gate.admitted,
        ),
        _family(
            "chatgauge_requests_finished_total",
            "counter",
            "Chat completions that released their slot.",
            gate.finished,
        ),
        _family(
            "chatgauge_queue_wait_seconds_total",
            "counter",
            "Seconds chat completions spent waiting for a slot.",
            gate.wait_seconds_total,
        ),
    ]
    return "".join(parts).encode()


__all__ = ["CONTENT_TYPE", "render_metrics"]
