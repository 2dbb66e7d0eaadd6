"""chatgauge: conformance and load testing for OpenAI-compatible chat-completions endpoints."""

from chatgauge._client import ChatClient, ClientConfig, EndpointError
from chatgauge._limits import LimitExceeded, Limits
from chatgauge._models import ChatCase, ChatExchange, TimedEvent
from chatgauge._secret import Secret
from chatgauge._sse import FramingFacts, SSEDecodeError, SSEDecoder, SSEEvent
from chatgauge._version import __version__

__all__ = [
    "ChatCase",
    "ChatClient",
    "ChatExchange",
    "ClientConfig",
    "EndpointError",
    "FramingFacts",
    "LimitExceeded",
    "Limits",
    "SSEDecodeError",
    "SSEDecoder",
    "SSEEvent",
    "Secret",
    "TimedEvent",
    "__version__",
]
