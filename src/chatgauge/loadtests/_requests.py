"""One request's figures, drawn once from its sample: the values every statistic pools.

TTFT, TTFB and TTFT from the schedule, schedule lag, TPOT, decode rate, the raw inter-token
gaps (and per-token gaps for multi-token events) and E2E (from the send and from the
intended start), in ms (the decode rate in
tokens/s), exactly as ``docs/metrics.md`` defines them. ``None`` where a request has no such
figure (no first token; fewer than two tokens for TPOT).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

from chatgauge.loadtests._samples import RequestSample

NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True)
class RequestFigures:
    """The per-request figures every statistic is drawn from (ms unless named otherwise)."""

    sample: RequestSample
    tokens_per_event: tuple[int, ...]
    ttft: float | None
    ttfb: float | None
    ttft_from_schedule: float | None
    schedule_lag: float
    tpot: float | None
    decode_rate: float | None
    gaps: tuple[float, ...]
    gaps_per_token: tuple[float, ...]
    e2e: float
    e2e_from_schedule: float


def _ms(ns: int) -> float:
    return ns / NS_PER_MS


def request_figures(sample: RequestSample) -> RequestFigures:
    """The figures of one request (see the module docstring)."""
    stamps = sample.token_event_ns
    first, last = sample.t_first_token_ns, sample.t_last_token_ns
    n = sample.output_tokens
    tpot = decode = None
    if n >= 2 and first is not None and last is not None:
        tpot = _ms(last - first) / (n - 1)
        if last > first:
            decode = (n - 1) / ((last - first) / NS_PER_S)
    gaps = tuple((later - earlier) / NS_PER_MS for earlier, later in itertools.pairwise(stamps))
    counts = tokens_per_event(sample)
    per_token = gaps
    if counts and max(counts) > 1:
        per_token = tuple(gap / k for gap, k in zip(gaps, counts[1:], strict=True))
    return RequestFigures(
        sample=sample,
        tokens_per_event=counts,
        ttft=None if first is None else _ms(first - sample.t_send_ns),
        ttfb=None
        if sample.t_first_event_ns is None
        else _ms(sample.t_first_event_ns - sample.t_send_ns),
        ttft_from_schedule=None if first is None else _ms(first - sample.t_sched_ns),
        schedule_lag=_ms(sample.t_send_ns - sample.t_sched_ns),
        tpot=tpot,
        decode_rate=decode,
        gaps=gaps,
        gaps_per_token=per_token,
        e2e=_ms(sample.t_done_ns - sample.t_send_ns),
        e2e_from_schedule=_ms(sample.t_done_ns - sample.t_sched_ns),
    )


def tokens_per_event(sample: RequestSample) -> tuple[int, ...]:
    """Tokens carried by each token-bearing event: 1 each when the counts are not known."""
    counts = sample.token_event_counts
    if len(counts) != len(sample.token_event_ns):
        return (1,) * len(sample.token_event_ns)
    return counts if not counts or min(counts) >= 1 else tuple(max(k, 1) for k in counts)


__all__ = ["NS_PER_MS", "NS_PER_S", "RequestFigures", "request_figures", "tokens_per_event"]
