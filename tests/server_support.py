"""Helpers for the reference server's tests: send one request over loopback, look at the wire."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from chatgauge._sse import SSEDecoder

JSONObject = dict[str, Any]

WEATHER_TOOL: JSONObject = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def chat(**fields: Any) -> JSONObject:
    """A valid request body with ``fields`` added or replaced."""
    body: JSONObject = {
        "model": "pro",
        "messages": [{"role": "user", "content": "Tell me about rivers."}],
    }
    body.update(fields)
    return body


def streamed(*, include_usage: bool = False, **fields: Any) -> JSONObject:
    """A streamed request body (optionally asking for the usage chunk)."""
    body = chat(stream=True, **fields)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


@dataclass(frozen=True)
class Exchange:
    """One request's response as seen on the wire."""

    status: int
    headers: httpx.Headers
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)

    def data(self) -> list[str]:
        """Data payloads of the dispatched SSE events (WHATWG decoding)."""
        decoder = SSEDecoder()
        events = decoder.feed(self.raw) + decoder.close()
        return [event.data for event in events]

    def chunks(self) -> list[JSONObject]:
        """Every JSON payload of the stream, ``[DONE]`` left out."""
        return [json.loads(data) for data in self.data() if data != "[DONE]"]

    def choice_chunks(self) -> list[JSONObject]:
        """The choice entries of all chunks, in order."""
        return [choice for chunk in self.chunks() for choice in chunk.get("choices", ())]

    def streamed_text(self, index: int = 0) -> str:
        return "".join(
            choice["delta"].get("content") or ""
            for choice in self.choice_chunks()
            if choice["index"] == index
        )

    def finish_reasons(self, index: int = 0) -> list[Any]:
        return [
            choice["finish_reason"]
            for choice in self.choice_chunks()
            if choice["index"] == index and choice["finish_reason"] is not None
        ]

    def usage_chunks(self) -> list[JSONObject]:
        return [chunk for chunk in self.chunks() if chunk.get("usage") is not None]


def post(
    base_url: str,
    body: Mapping[str, Any] | None = None,
    *,
    raw: bytes | None = None,
    api_key: str | None = None,
    timeout: float = 10.0,
) -> Exchange:
    """POST ``body`` (or ``raw`` bytes) to ``{base_url}/chat/completions``."""
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    content = raw if raw is not None else json.dumps(body).encode()
    response = httpx.post(
        f"{base_url}/chat/completions", content=content, headers=headers, timeout=timeout
    )
    return Exchange(response.status_code, response.headers, response.content)


def content_of(exchange: Exchange, index: int = 0) -> Any:
    """The message content of choice ``index`` of a non-streamed response."""
    return exchange.json()["choices"][index]["message"]["content"]


def assert_error_envelope(exchange: Exchange, status: int, code: str | None = None) -> JSONObject:
    """Check status and the four-key envelope; return the inner error object."""
    assert exchange.status == status, exchange.raw
    body = exchange.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["type"], str)
    if code is not None:
        assert error["code"] == code
    return dict(error)
