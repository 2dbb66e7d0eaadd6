"""Replays a recorded stream to the official ``openai`` client (rule E8).

The bytes the endpoint sent are served again, unchanged, through an in-memory httpx
transport, so the client's own SSE parser and chunk models judge them exactly as they
would have on the wire. ``openai`` is an optional dependency: without it E8 is skipped.
"""

from __future__ import annotations

from typing import Any

import httpx

from chatgauge._models import ChatExchange


class ReplayUnavailable(Exception):
    """The official client is not installed, so the replay cannot run."""


def replay_with_openai(exchange: ChatExchange) -> int:
    """Feed ``exchange``'s recorded response to ``openai``; return how many chunks it read.

    Any exception the client raises propagates: that is the finding.
    """
    try:
        import openai
    except ImportError:
        raise ReplayUnavailable(
            "the openai package is not installed (pip install 'chatgauge[test]')"
        ) from None

    headers = {"content-type": exchange.content_type or "text/event-stream"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(exchange.status or 200, headers=headers, content=exchange.raw)

    body: dict[str, Any] = dict(exchange.case.body)
    with httpx.Client(transport=httpx.MockTransport(handler)) as http_client:
        client = openai.OpenAI(
            base_url="http://replay.invalid/v1",
            api_key="replay",
            http_client=http_client,
            max_retries=0,
        )
        stream = client.chat.completions.create(**body)
        count = 0
        for _chunk in stream:
            count += 1
        return count
