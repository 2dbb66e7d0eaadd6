"""What the parent does for a workload before the load generator starts.

- **Token calibration** (``--input-dist``, ``--shared-prefix``, ``--trace``: prompts made to
  a length in tokens): two probes of 8 and 72 filler words, ``max_tokens`` 1, not streamed;
  their ``usage.prompt_tokens`` fit ``prompt_tokens = overhead + per_word * words``
  (:class:`~chatgauge.loadtests._lengths.TokenCalibration`), handed to the generator as
  ``--token-calibration``. This is the endpoint's own count (its tokenizer and chat
  template), not a tokenizer guessed on this side; an endpoint that sends no usage leaves
  the run uncalibrated (one word per token) with a warning.
- **Trace timing** (``--trace``): the run becomes open loop at the trace's mean rate (so the
  users cap what is in flight) and lasts the replay (span / speed-up) plus a short tail.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from random import Random
from typing import Final

from chatgauge.loadtests._http import Connection, HttpTransportError, Origin, request_head
from chatgauge.loadtests._lengths import TokenCalibration
from chatgauge.loadtests._settings import LoadSettings
from chatgauge.loadtests._workloads import filler, trace_plan

PROBE_WORDS: Final = (8, 72)
TRACE_TAIL_S: Final = 3.0
PROBE_TIMEOUT_S: Final = 30.0


def _prompt_tokens(settings: LoadSettings, words: int) -> int | None:
    origin = Origin.from_url(settings.base_url)
    text = filler(words, Random(words), "Calibration probe: repeat nothing.")
    body = json.dumps(
        {
            "model": settings.model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 1,
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Encoding": "identity",
        "Content-Length": str(len(body)),
    }
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key.reveal()}"
    connection = Connection(
        origin,
        verify_tls=settings.verify_tls,
        read_timeout_s=min(settings.timeout_s, PROBE_TIMEOUT_S),
        connect_timeout_s=min(settings.timeout_s, 10.0),
    )
    try:
        _, response = connection.request(
            request_head("POST", f"{origin.prefix}/chat/completions", headers), body
        )
        answer = json.loads(response.read_all(1 << 20))
        tokens = answer["usage"]["prompt_tokens"]
    except (HttpTransportError, ValueError, KeyError, TypeError, RecursionError):
        return None
    finally:
        connection.close()
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None


def calibrate(settings: LoadSettings) -> TokenCalibration | None:
    """The endpoint's word-to-token line from two probes (``None``: no usage to fit)."""
    short, long = PROBE_WORDS
    first, second = _prompt_tokens(settings, short), _prompt_tokens(settings, long)
    if first is None or second is None:
        return None
    try:
        return TokenCalibration.from_probes((short, first), (long, second))
    except ValueError:
        return None


def needs_calibration(settings: LoadSettings) -> bool:
    """Whether prompts are made to a length in tokens and no calibration was given."""
    workload = settings.workload
    wanted = bool(workload.input_dist or workload.shared_prefix or workload.trace)
    return wanted and not workload.calibration


def prepare(settings: LoadSettings) -> LoadSettings:
    """``settings`` with the calibration measured and the trace's timing set."""
    workload = settings.workload
    if needs_calibration(settings):
        calibration = calibrate(settings)
        if calibration is None:
            print(
                "chatgauge: the endpoint sent no usage.prompt_tokens to calibrate input "
                "lengths with; one word is taken as one token",
                file=sys.stderr,
            )
        else:
            workload = dataclasses.replace(workload, calibration=calibration.text())
    changes: dict[str, object] = {"workload": workload}
    if workload.trace:
        rate, span = trace_plan(Path(workload.trace), workload.trace_speedup)
        changes["rate"] = rate
        changes["duration_s"] = max(span - settings.warmup_s, 0.0) + TRACE_TAIL_S
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


__all__ = ["PROBE_WORDS", "calibrate", "needs_calibration", "prepare"]
