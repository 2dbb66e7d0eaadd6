"""Replays a recorded stream to the official ``openai`` client (rule E8).

The bytes the endpoint sent are served again, unchanged, through an in-memory httpx
transport, so the client's own SSE parser and chunk models judge them exactly as they
would have on the wire. ``openai`` is an optional dependency: without it E8 is skipped.
"""

from __future__ import annotations

from typing import Any

from chatgauge._models import ChatExchange
from chatgauge.conformance._results import SkipKind


class ReplayUnavailable(Exception):
    """The replay cannot run: the official client is not installed, or the stream was too
    long for the client to keep whole (``kind`` says which kind of skip that is)."""

    def __init__(self, message: str, kind: SkipKind = SkipKind.RUN) -> None:
        super().__init__(message)
        self.kind = kind


def replay_with_openai(exchange: ChatExchange) -> int:
    """Feed ``exchange``'s recorded response to ``openai``; return how many chunks it read.

    Any exception the client raises propagates: that is the finding. A body the client did
    not keep whole cannot be replayed byte for byte: :class:`ReplayUnavailable`.
    """
    if not exchange.body.kept_whole:
        raise ReplayUnavailable(
            f"the stream ({exchange.body.describe()}) was too long to keep whole, so it "
            "cannot be replayed",
            kind=SkipKind.ENDPOINT,
        )
    try:
        import openai
    except ImportError:
        raise ReplayUnavailable(
            "the openai package is not installed (pip install 'chatgauge[test]')"
        ) from None

    # openai 1.x and 2.x are built on httpx, 3.x on its fork httpx2: serve the bytes through
    # whichever transport layer the installed client itself uses.
    from openai import _base_client

    transport_lib: Any = getattr(_base_client, "httpx2", None) or getattr(_base_client, "httpx")  # noqa: B009
    headers = {"content-type": exchange.content_type or "text/event-stream"}

    def handler(request: Any) -> Any:
        return transport_lib.Response(exchange.status or 200, headers=headers, content=exchange.raw)

    body: dict[str, Any] = dict(exchange.case.body)
    with transport_lib.Client(transport=transport_lib.MockTransport(handler)) as http_client:
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
