"""The contract of a run: which features the endpoint promises, from a profile and adjustments.

Profiles: ``openai`` (the default) holds the endpoint to OpenAI's whole surface, every
feature required: a drop-in replacement. ``basic`` is what a provider that implements a
subset typically documents: chat with system, user and assistant roles, streaming,
temperature bounds, max_tokens, usage and JSON mode (``json_object``); every other feature
is optional. ``--require F1,F2`` and ``--optional F1,F2`` move features between the two
lists (a feature named in both is an error: the contract would contradict itself).

The verdict rules (``checks/h_capabilities.py``): a required feature that is unsupported,
ignored or broken fails. An optional one: unsupported is neutral (verdict
``unsupported``), ignored a warning (a client cannot tell its request was not honoured),
broken a failure (the endpoint takes the request and does it wrong). Checks and requests
about an optional feature the endpoint does not support (unsupported or ignored) are not
judged, and say why (the context's gate, kind ``capability``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from chatgauge.conformance._features import FEATURES
from chatgauge.results.conformance import Contract

DEFAULT_PROFILE: Final = "openai"
PROFILES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "openai": frozenset(FEATURES),
        "basic": frozenset({"json_object"}),
    }
)
"""Each profile's required features (the rest of :data:`FEATURES` is optional)."""

PROFILE_HELP: Final = {
    "openai": "a drop-in replacement for OpenAI: every feature required",
    "basic": (
        "chat (system, user, assistant), streaming, temperature bounds, max_tokens, usage, "
        "json_object; every other feature optional"
    ),
}


def profile_name(text: str) -> str:
    """A profile name (``openai`` or ``basic``, any case); ``ValueError`` naming the valid ones."""
    name = text.strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {text!r}; valid profiles: {', '.join(PROFILES)}")
    return name


def feature_names(names: Iterable[str], what: str) -> tuple[str, ...]:
    """``names`` checked against :data:`FEATURES` (``-`` may stand for ``_``); ``ValueError``
    naming the first unknown one and the valid names."""
    found: list[str] = []
    for raw in names:
        name = raw.strip().lower().replace("-", "_")
        if name not in FEATURES:
            raise ValueError(f"{what}: unknown feature {raw!r}; features: {', '.join(FEATURES)}")
        if name not in found:
            found.append(name)
    return tuple(found)


def make_contract(
    profile: str = DEFAULT_PROFILE, require: Iterable[str] = (), optional: Iterable[str] = ()
) -> Contract:
    """The contract of ``profile`` with ``require`` and ``optional`` moved; ``ValueError`` for
    an unknown profile or feature, or a feature both required and optional."""
    name = profile_name(profile)
    required_extra = feature_names(require, "--require")
    optional_extra = feature_names(optional, "--optional")
    both = sorted(set(required_extra) & set(optional_extra))
    if both:
        raise ValueError(f"feature {both[0]!r} is given both as required and as optional")
    required = (PROFILES[name] | set(required_extra)) - set(optional_extra)
    return Contract(
        profile=name,
        required=tuple(f for f in FEATURES if f in required),
        optional=tuple(f for f in FEATURES if f not in required),
    )


def is_optional(contract: Contract, feature: str) -> bool:
    """Whether the contract leaves ``feature`` optional."""
    return feature in contract.optional


__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "PROFILE_HELP",
    "feature_names",
    "is_optional",
    "make_contract",
    "profile_name",
]
