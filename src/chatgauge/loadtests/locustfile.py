"""chatgauge's stock locustfile: exact streaming timings of POST {host}/chat/completions.

Run it with plain locust (web UI or ``--headless``); ``--host`` is the base URL including
the API prefix, the API key comes from ``$CHATGAUGE_API_KEY`` or ``$OPENAI_API_KEY``::

    locust -f .../chatgauge/loadtests/locustfile.py --host http://127.0.0.1:8000/v1 \\
        --model NAME --headless -u 8 -r 8 -t 30s --warmup 5s --report-dir reports

``-u`` is the concurrency (closed loop) or the cap on requests in flight (``--rate R``,
open loop); ``-t`` is the whole run including ``--warmup``. ``chatgauge load`` runs this file.
Taking the users from :mod:`chatgauge.loadtests` adds chatgauge's options to locust and
attaches its collector to the environment when locust fires ``init``.
"""

from __future__ import annotations

from locust.env import Environment

import chatgauge.loadtests as chatgauge_load


class ChatCompletionsUser(chatgauge_load.StreamingChatUser):
    """Streamed requests, or non-streamed ones with ``--no-stream``."""

    def __init__(self, environment: Environment) -> None:
        self.stream = chatgauge_load.load_session(environment).traffic.options.stream
        super().__init__(environment)


class LoadShape(chatgauge_load.OptionsShape):
    """Follows ``-u/-r/-t``, ``--ramp``, ``--step`` and the sweeps."""
