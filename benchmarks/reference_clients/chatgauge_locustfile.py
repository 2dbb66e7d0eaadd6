"""chatgauge's streaming user inside locust, sending the benchmark's request body.

The reference server answers plain text of 16..40 tokens; the benchmark needs exactly 64
content events per stream. With ``chatgauge serve --fault tools-ignored`` a request that
offers tools gets text running on to ``max_tokens`` instead, so this user adds one tool
(:attr:`StreamingChatUser.extra_body`, the documented way to add fields) and is otherwise
chatgauge's stock user. Run it with chatgauge's own options, e.g. ``--max-tokens 64
--report-dir DIR`` (the benchmark reads the raw samples from ``DIR/samples.jsonl``).

``--stagger S`` delays the first request of the k-th of N users by ``k * S / N`` (the
benchmark passes one stream's length), so the closed loop's streams are spread evenly
over a cycle instead of all starting, and then forever ending, at the same moment.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import gevent
from locust import events
from locust.env import Environment

from chatgauge.loadtests import StreamingChatUser

_user_numbers = itertools.count()

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {
                "type": "object",
                "properties": {"word": {"type": "string"}},
                "required": ["word"],
            },
        },
    }
]


def _options(parser: Any) -> None:
    parser.add_argument("--stagger", type=float, default=0.0, help="spread user starts (s)")


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]


class BenchStreamingUser(StreamingChatUser):
    """chatgauge's streaming user with one tool offered (see the module docstring)."""

    extra_body: ClassVar[dict[str, Any]] = {"tools": TOOLS}

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        users = max(int(getattr(options, "num_users", 1) or 1), 1)
        stagger = float(getattr(options, "stagger", 0.0))
        self.start_delay_s = (next(_user_numbers) % users) * stagger / users

    def on_start(self) -> None:
        """Wait for this user's place in the stagger."""
        gevent.sleep(self.start_delay_s)
