"""chatgauge: conformance and load testing for OpenAI-compatible chat-completions endpoints."""

from chatgauge._client import ChatClient, ClientConfig, EndpointError
from chatgauge._limits import LimitExceeded, Limits
from chatgauge._models import ChatCase, ChatExchange, TimedEvent
from chatgauge._secret import Secret
from chatgauge._sse import FramingFacts, SSEDecodeError, SSEDecoder, SSEEvent
from chatgauge._version import __version__
from chatgauge.conformance._session import (
    ConfigurationError,
    EndpointUnreachable,
    ReportWriteError,
    run_conformance,
)
from chatgauge.conformance._settings import ConformanceSettings
from chatgauge.loadtests._launch import run_load
from chatgauge.loadtests._settings import LoadSettings
from chatgauge.results.conformance import CheckResult, ConformanceRun, RunStatus, Status
from chatgauge.results.load import LoadReport

__all__ = [
    "ChatCase",
    "ChatClient",
    "ChatExchange",
    "CheckResult",
    "ClientConfig",
    "ConfigurationError",
    "ConformanceRun",
    "ConformanceSettings",
    "EndpointError",
    "EndpointUnreachable",
    "FramingFacts",
    "LimitExceeded",
    "Limits",
    "LoadReport",
    "LoadSettings",
    "ReportWriteError",
    "RunStatus",
    "SSEDecodeError",
    "SSEDecoder",
    "SSEEvent",
    "Secret",
    "Status",
    "TimedEvent",
    "__version__",
    "run_conformance",
    "run_load",
]
