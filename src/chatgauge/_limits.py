"""Bounds on everything an endpoint controls, shared by both clients.

An endpoint decides how long it answers, how many bytes and events it sends and how many
interim responses come before the final one. Without bounds, a server that never finishes,
trickles a byte every few seconds or sends an endless body holds a run forever or fills its
memory. :class:`Limits` names every bound; the conformance client (:mod:`chatgauge._client`)
and the load users' connection (:mod:`chatgauge.loadtests._http`) enforce the same values.

Two kinds of bound:

- **Hard limits** end the request as soon as they are crossed, as a failure about the
  endpoint: ``total_timeout_s`` (error kind ``timeout``), ``max_body_bytes``,
  ``max_events``, ``max_line_bytes``, ``max_interim_responses`` and ``max_header_bytes``
  (error kind ``limit``). The failure says what was exceeded ("answer exceeded 16 MiB") and
  names the field in :attr:`LimitExceeded.limit`, so a command can point at its flag.
- **Keep limits** only bound what an exchange remembers: ``keep_body_bytes`` (beyond it,
  the first and last ``excerpt_bytes`` of the body are kept, with its size and SHA-256),
  ``keep_events`` and ``keep_tail_events`` (the events between are counted, not kept).

The defaults are far beyond what a working endpoint sends for a chat completion, so they
never change a verdict or a figure against one; see each field for why its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Final, Literal

KiB: Final = 1024
MiB: Final = 1024 * KiB

LimitName = Literal[
    "total_timeout_s",
    "max_body_bytes",
    "max_events",
    "max_line_bytes",
    "max_interim_responses",
    "max_header_bytes",
]


@dataclass(frozen=True)
class Limits:
    """What one request may take from the endpoint, and what its exchange keeps.

    - ``total_timeout_s`` (120 s): the whole request, from connecting to the last body
      byte. It comes on top of the read timeout (the longest gap between two reads), which
      alone lets a body trickled one byte per few seconds last forever. A default answer
      (16 tokens for ``check``, 64 for ``load``) reaches it only below 0.5 tokens/s; raise it
      for long generations (a 4,096-token answer at 30 tokens/s takes 137 s).
    - ``max_body_bytes`` (16 MiB): the response body (after removing chunked framing); a
      streamed answer of 16 MiB holds about 80,000 chunks of 200 bytes.
    - ``max_events`` (100,000): dispatched SSE events per stream; no chat completion sends
      one event per token for that many tokens within the total deadline.
    - ``max_line_bytes`` (16 MiB): one event-stream line (the SSE decoder's own limit).
    - ``max_interim_responses`` (10): ``1xx`` responses (``100 Continue``, ``103 Early
      Hints``) before the final one; servers send none or one or two.
    - ``max_header_bytes`` (64 KiB): one response head, status line and headers (each
      interim head too). The conformance client's HTTP parser (h11) also refuses any head
      over 100 KiB whatever this says.
    - ``keep_body_bytes`` (4 MiB): a body up to this size is kept whole; a longer one keeps
      its first and last ``excerpt_bytes`` (64 KiB) plus its size and SHA-256. A JSON
      completion of 4 MiB would hold a million tokens of text.
    - ``keep_events`` (10,000) and ``keep_tail_events`` (100): the first ``keep_events``
      events and the last ``keep_tail_events`` are kept, those between only counted (the
      tail is where a stream shows how it ended: usage, ``[DONE]``).
    """

    total_timeout_s: float = 120.0
    max_body_bytes: int = 16 * MiB
    max_events: int = 100_000
    max_line_bytes: int = 16 * MiB
    max_interim_responses: int = 10
    max_header_bytes: int = 64 * KiB
    keep_body_bytes: int = 4 * MiB
    excerpt_bytes: int = 64 * KiB
    keep_events: int = 10_000
    keep_tail_events: int = 100

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "total_timeout_s":
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if not (number and 0 < value < math.inf):
                    raise ValueError(
                        f"{spec.name} must be a positive number of seconds, got {value!r}"
                    )
            elif spec.name in ("max_interim_responses", "keep_tail_events"):
                _check_int(spec.name, value, minimum=0)
            else:
                _check_int(spec.name, value, minimum=1)

    def describe(self, limit: LimitName) -> str:
        """The value of ``limit`` as a user reads it: ``16 MiB``, ``120 s``, ``10``."""
        value = getattr(self, limit)
        if limit == "total_timeout_s":
            return f"{value:g} s"
        if limit.endswith("_bytes"):
            return format_size(value)
        return str(value)


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")


def format_size(size: int) -> str:
    """``size`` bytes as a person writes it: ``16 MiB``, ``64 KiB``, ``1.5 MiB``, ``900 bytes``."""
    for unit, scale in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= scale:
            amount = size / scale
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size} bytes" if size != 1 else "1 byte"


class LimitExceeded(Exception):
    """A hard limit ended the request; ``limit`` names the :class:`Limits` field crossed.

    ``kind`` is the error kind the exchange reports: ``timeout`` for the total deadline,
    ``limit`` for every other bound. The message says what happened in endpoint terms
    ("answer exceeded 16 MiB") and never carries endpoint text.
    """

    def __init__(self, limit: LimitName, message: str) -> None:
        super().__init__(message)
        self.limit: LimitName = limit
        self.kind: Literal["timeout", "limit"] = (
            "timeout" if limit == "total_timeout_s" else "limit"
        )


def deadline_message(total_timeout_s: float) -> str:
    """The message of a request that hit its total deadline of ``total_timeout_s``."""
    return f"no complete answer within {total_timeout_s:g} s (total deadline)"


def body_message(limits: Limits) -> str:
    """The message of a body that went past ``max_body_bytes``."""
    return f"answer exceeded {limits.describe('max_body_bytes')}"


def events_message(limits: Limits) -> str:
    """The message of a stream that went past ``max_events``."""
    return f"stream exceeded {limits.max_events} events"


def interim_message(limits: Limits) -> str:
    """The message of more interim responses than ``max_interim_responses``."""
    return f"more than {limits.max_interim_responses} interim (1xx) responses"


def head_message(limits: Limits) -> str:
    """The message of a response head longer than ``max_header_bytes``."""
    return f"response head exceeded {limits.describe('max_header_bytes')}"


def line_message(limits: Limits) -> str:
    """The message of an event-stream line longer than ``max_line_bytes``."""
    return f"event-stream line exceeded {limits.describe('max_line_bytes')}"


__all__ = ["KiB", "LimitExceeded", "LimitName", "Limits", "MiB", "format_size"]
