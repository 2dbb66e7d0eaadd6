"""The named optional API features, which requests use them, and which checks concern them.

A feature is a part of the OpenAI surface that many endpoints leave out (``tools``,
``logprobs``, ...). Each has a probe that reveals what the endpoint does with it (the
classification lives in ``_capabilities.py``) and a contract says whether the endpoint must
offer it (``_contract.py``). This module holds the pure facts: the names, which features a
request body uses (:func:`features_of_body`: the gate of the run's contract reads it), and
which checks concern which features (:data:`CHECK_FEATURES`, for reports and docs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from chatgauge.results.conformance import FeatureState

FEATURES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "tools": "tool calling: tools and tool_choice, tool messages",
        "logprobs": "token log probabilities: logprobs and top_logprobs",
        "json_schema": "structured output: response_format json_schema",
        "json_object": "JSON mode: response_format json_object",
        "n": "several choices per request: n > 1",
        "stop": "stop sequences",
        "stream_usage": "usage in a stream: stream_options.include_usage",
        "seed": "the seed parameter",
        "max_completion_tokens": "the max_completion_tokens limit",
        "developer_role": "messages with role developer",
        "content_parts": "message content as an array of text parts",
        "auth": "API keys: requests without a valid key are refused with 401",
        "models_endpoint": "GET /v1/models lists the models served",
    }
)
"""Every feature, in the order reports show them, with what it covers."""

CHECK_FEATURES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "A4-missing-key-rejected": frozenset({"auth"}),
        "A4-wrong-key-rejected": frozenset({"auth"}),
        "B4-tool-calls": frozenset({"tools"}),
        "B4-tool-arguments": frozenset({"tools"}),
        "B2-choice-count": frozenset({"n"}),
        "B2-choice-index": frozenset({"n"}),
        "C4-usage-counts-every-choice": frozenset({"n"}),
        "C3-stream-usage-agrees": frozenset({"stream_usage"}),
        "E5-tool-call-deltas": frozenset({"tools"}),
        "E6-usage-chunk": frozenset({"stream_usage"}),
        "G1-json-mode": frozenset({"json_object"}),
        "G2-json-schema": frozenset({"json_schema"}),
        "G3-logprob-tokens": frozenset({"logprobs"}),
        "G3-logprob-values": frozenset({"logprobs"}),
        "G3-top-logprobs-count": frozenset({"logprobs"}),
        "G3-top-logprobs-exact": frozenset({"logprobs"}),
        "G4-n-stream": frozenset({"n"}),
        "G5-stop-excluded": frozenset({"stop"}),
        "G5-stop-finish": frozenset({"stop"}),
        "G6-max-completion-tokens": frozenset({"max_completion_tokens"}),
    }
)
"""The checks whose whole rule is about a feature. Checks that judge several probes (A1,
A2, B1, the D and E groups) are not listed: the contract's gate leaves out each request that
uses an optional feature the endpoint does not support, and the check judges the rest."""


@dataclass(frozen=True)
class Found:
    """A feature's classification: the state, one line of evidence, the probe that decided
    it, and (for ``not_probed``) whether the run itself is why (budget, rate limit, a cut
    answer) rather than the configuration (no API key given)."""

    status: FeatureState
    evidence: str
    probe: str = ""
    run_caused: bool = False


_CONTROL_FIELDS: Final = {
    "tools": ("tools", "tool_choice", "parallel_tool_calls"),
    "logprobs": ("logprobs", "top_logprobs"),
    "stop": ("stop",),
    "stream_usage": ("stream_options",),
    "seed": ("seed",),
    "max_completion_tokens": ("max_completion_tokens",),
}


def features_of_body(body: object) -> frozenset[str]:
    """The features a request body uses: a field of the feature present (``n`` other than
    1), a response_format of its type, a tool or developer message, content as parts.

    ``auth`` and ``models_endpoint`` are never part of a body. A body that is not an object
    (a malformed-body probe) uses none.
    """
    if not isinstance(body, dict):
        return frozenset()
    found = {name for name, keys in _CONTROL_FIELDS.items() if any(k in body for k in keys)}
    if "n" in body and body["n"] != 1:
        found.add("n")
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind in ("json_schema", "json_object"):
            found.add(str(kind))
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        found |= _message_features(message)
    return frozenset(found)


def _message_features(message: Any) -> set[str]:
    if not isinstance(message, dict):
        return set()
    found: set[str] = set()
    role = message.get("role")
    if role == "tool" or "tool_calls" in message or "tool_call_id" in message:
        found.add("tools")
    if role == "developer":
        found.add("developer_role")
    if isinstance(message.get("content"), list):
        found.add("content_parts")
    return found


__all__ = ["CHECK_FEATURES", "FEATURES", "Found", "features_of_body"]
