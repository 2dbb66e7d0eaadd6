"""The words next to every figure: ``definitions`` of ``load.json`` (see docs/metrics.md).

Each entry says how one figure is computed, precisely enough to compare it with another
tool's figure of the same name; the load page shows them beside the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from chatgauge.loadtests._slo import SLO_ATTAINMENT_TARGET
from chatgauge.loadtests._stats import QUANTILE_DEFINITION

MAX_POINTS: Final = 5000
"""Per-request points kept for scatter plots: enough to see structure, bounded file size."""

DEFINITIONS: Final[Mapping[str, str]] = {
    "clock": (
        "Every stamp is time.perf_counter_ns() of the generator process that sent the request "
        "(a monotonic clock); t_sched is the intended start (open loop), t_send just before "
        "the request bytes are written, t_done at [DONE] or the end of the body. A "
        "token-bearing event is an SSE event whose delta has non-empty content, reasoning or "
        "tool_calls; a role-only chunk is never one."
    ),
    "window": (
        "Measurement window [start, end]: latency statistics, request counts, errors and SLO "
        "attainment use the requests whose t_sched lies inside it; rates use the requests "
        "whose t_done lies inside it, divided by the window length end - start. Requests "
        "before start (warm-up) or after end (cool-down) are left out of both."
    ),
    "percentiles": QUANTILE_DEFINITION,
    "latency_population": (
        "Latency statistics (TTFT, TTFB, TPOT, ITL, E2E, decode rate) use successful requests "
        "only; schedule lag uses every measured request, failed or not."
    ),
    "ttft_ms": (
        "Time to first token: arrival of the first token-bearing event minus t_send, in ms. "
        "A role-only first chunk does not count."
    ),
    "ttfb_ms": "Time to first byte of the stream: arrival of the first SSE data event (of any "
    "kind, role-only included) minus t_send, in ms.",
    "ttft_from_schedule_ms": (
        "User-perceived TTFT: first token-bearing event minus t_sched, in ms. In open-loop "
        "mode it includes any wait before the request could be sent (corrects coordinated "
        "omission); in closed-loop mode t_sched = t_send and it equals TTFT."
    ),
    "schedule_lag_ms": "t_send minus t_sched, in ms: how late the generator sent each request.",
    "tpot_ms": (
        "Time per output token: (last token-bearing event - first token-bearing event) / "
        "(N - 1), in ms, for requests with N >= 2 output tokens; the first token is excluded."
    ),
    "itl_ms": (
        "Inter-token latency: every gap between consecutive token-bearing events of a "
        "request, in ms, pooled over all requests and kept raw (one value per gap), so a "
        "mid-stream stall shows in p99 and max. Not averaged per request."
    ),
    "itl_per_token_ms": (
        "Each ITL gap divided by the number of tokens the later event carried (one value per "
        "gap); equals itl_ms when every event carries one token, differs with multi-token "
        "events (speculative decoding, coalescing)."
    ),
    "e2e_ms": "End-to-end latency: t_done minus t_send, in ms.",
    "e2e_from_schedule_ms": (
        "User-perceived end-to-end latency: t_done minus t_sched, in ms; equals e2e_ms in "
        "closed-loop mode."
    ),
    "latency_basis": (
        "What the verdicts (SLOs, goodput, the headline, comparisons) measure TTFT and E2E "
        "from: 'intended_start' in open-loop mode (ttft_from_schedule_ms and "
        "e2e_from_schedule_ms: a request queued behind busy users makes its user wait, so "
        "the wait counts), 'send' in closed-loop mode (ttft_ms and e2e_ms). The send-based "
        "figures of an open-loop run stay in metrics as a diagnostic of the server alone."
    ),
    "cut_off": (
        "requests.cut_off: measured requests still in flight when the run ended that had run "
        "no longer than twice the longest completed request; they are counted but judged by no "
        "figure. One that had run longer, or any when no request completed, is a hang: it "
        "counts as failed (error kind cut_off) in the errors, SLOs and error budget."
    ),
    "unsent": (
        "requests.unsent (open loop): measured slots of the arrival schedule that were due "
        "before the run ended but never sent, every user being busy (or backing off); outside "
        "requests.total and every figure, so TTFT from intended start leaves out their "
        "waits. More users (-u) would send them."
    ),
    "backoffs": (
        "error_budget.backoffs: pauses the users took after a refused or reset connection, "
        "a 429 or a 503 (exponential with jitter, Retry-After honoured), instead of retrying "
        "at once."
    ),
    "error_budget": (
        "error_budget.error_rate: failed measured requests over the measured requests "
        "(normal cut-offs left out). Above max_error_rate (--max-error-rate), or with no "
        "measured request completed, the run fails (exit code 3) whatever its latencies."
    ),
    "decode_rate_tps": (
        "Per-request decode rate: (N - 1) / (last token-bearing event - first one), in "
        "tokens/s, for requests with N >= 2 whose last token came after the first."
    ),
    "output_tokens": (
        "N, the output tokens of a request: usage.completion_tokens when the server sent "
        "usage, otherwise the number of token-bearing events; requests.token_source counts "
        "which source each successful request used."
    ),
    "output_tokens_per_s": (
        "Aggregate output tokens/s: the sum of N over successful requests whose t_done lies "
        "in the window, divided by the window length in seconds. Tokens of failed requests "
        "and of requests finishing outside the window do not count."
    ),
    "requests_per_s": (
        "Request throughput: successful requests whose t_done lies in the window, divided by "
        "the window length in seconds."
    ),
    "errors_per_s": "Failed requests whose t_done lies in the window, per second of window.",
    "errors": (
        "Failed measured requests grouped by kind (HTTP errors by status, e.g. 'http 429'; "
        "timeout; connection; malformed stream; limit; cut_off), with the first example's "
        "message."
    ),
    "goodput": (
        "Goodput: successful requests whose t_done lies in the window and that meet every "
        "SLO, divided by the window length in seconds. Failed requests are never good."
    ),
    "slo_attainment": (
        "Per SLO: the fraction of measured requests meeting it (failed requests count as "
        "misses; a request without a first token misses TTFT SLOs; TPOT and ITL SLOs are "
        "met by a successful request with fewer than two tokens, which has nothing to "
        "violate). The itl_ms SLO bounds a request's largest gap."
    ),
    "slo_met": (
        f"goodput.met: every SLO has an attainment of at least {SLO_ATTAINMENT_TARGET:.0%} of "
        "measured requests (null when no SLO was given; false when no request was measured)."
    ),
    "series": (
        "One column per figure, one value per second since the origin (the earliest t_sched; "
        "t holds the second): requests_started (t_send in the "
        "second, the arrival rate), requests_completed and output_tokens (successful requests "
        "by t_done second, the same rule as the aggregate rates), errors (failed requests by "
        "t_done second), streamed_tokens (tokens of every token-bearing event by arrival "
        "second), active_requests (requests in flight between t_send and t_done, averaged "
        "over the second), ttft_p50_ms (TTFT p50 of successful requests whose first token "
        "arrived in the second), e2e_p50_ms (E2E p50 of successful requests finishing in it)."
    ),
    "points": (
        "One value per request in each column, in send order (every stride-th request when "
        f"there are more than {MAX_POINTS}): t_s (seconds from the origin to t_send), ttft_ms, "
        "e2e_ms (both from the run's latency basis) and ok (success)."
    ),
    "generator": (
        "Generator health: CPU use of the generator process(es) in percent of one core, "
        "event-loop lag samples, schedule lag, and achieved vs target request rate; the "
        "verdict is 'untrustworthy' when any figure crosses its threshold, with a reason."
    ),
    "clumping": (
        "Clumping (buffering proxy) is suspected when token events arrive several per body "
        "read, the median request had a large burst in one read, and the ITL p50 collapses "
        "far below the TPOT p50."
    ),
}

__all__ = ["DEFINITIONS", "MAX_POINTS"]
