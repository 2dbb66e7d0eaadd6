"""A plain locust ``FastHttpUser`` streaming chat completions the way users write one.

Two readers, chosen with ``--reader``:

- ``iter_lines`` (the naive way): ``self.client.iter_lines(...)``, locust's own helper for
  streamed responses;
- ``readline`` (a careful user): ``self.client.post(..., stream=True)`` and then
  geventhttpclient's ``readline(b"\\n")`` on the response, line by line.

Each line is stamped with ``time.perf_counter_ns()`` when the reader hands it over; the
request's start is stamped just before the ``client`` call. The exact stamps go to
``--records`` (one JSON line per request, written when the test stops:
``{"id", "t_send_ns", "token_ns", "error"}``), not locust's rounded statistics, so the
benchmark sees the reader's own timing error and nothing else. The request body comes from
``--body`` (JSON text). ``--stagger S`` delays the first request of the k-th of N users by
``k * S / N``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

RECORDS: list[dict[str, Any]] = []
HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}
_user_numbers = itertools.count()


def _options(parser: Any) -> None:
    parser.add_argument("--reader", choices=("iter_lines", "readline"), default="iter_lines")
    parser.add_argument("--body", default="{}", help="the request body as JSON")
    parser.add_argument("--records", default="", help="JSONL file for the per-request stamps")
    parser.add_argument("--stagger", type=float, default=0.0, help="spread user starts (s)")


def _write_records(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.records:
        path = options.records
        Path(path).write_text("".join(json.dumps(record) + "\n" for record in RECORDS))


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_write_records)  # type: ignore[no-untyped-call]


class StreamingUser(FastHttpUser):
    """One streamed chat completion after another (closed loop)."""

    wait_time = constant(0)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        assert options is not None, "run me with locust -f"
        self.reader: str = options.reader
        self.body: str = json.dumps(json.loads(options.body))
        users = max(int(options.num_users or 1), 1)
        self.start_delay_s = (next(_user_numbers) % users) * options.stagger / users

    def on_start(self) -> None:
        """Wait for this user's place in the stagger."""
        gevent.sleep(self.start_delay_s)

    @task
    def chat(self) -> None:
        """Send one request; stamp every ``data:`` line carrying content."""
        record: dict[str, Any] = {"id": None, "t_send_ns": 0, "token_ns": [], "error": None}
        record["t_send_ns"] = time.perf_counter_ns()
        try:
            for line in self._lines():
                stamp = time.perf_counter_ns()
                if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                    continue
                chunk = json.loads(line[6:])
                if record["id"] is None:
                    record["id"] = chunk["id"]
                choices = chunk["choices"]
                if choices and choices[0]["delta"].get("content"):
                    record["token_ns"].append(stamp)
        except Exception as exc:  # any failure is recorded, not raised
            record["error"] = repr(exc)
        RECORDS.append(record)

    def _lines(self) -> Iterator[bytes]:
        if self.reader == "iter_lines":
            for text in self.client.iter_lines(
                "/chat/completions", method="POST", data=self.body, headers=HEADERS
            ):
                yield text.encode()
            return
        response = self.client.post(
            "/chat/completions", data=self.body, headers=HEADERS, stream=True
        )
        stream = response._response
        assert stream is not None, "no response: the request failed before its headers"
        while line := stream.readline(b"\n"):
            yield line.rstrip(b"\n")
