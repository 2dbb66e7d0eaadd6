"""How a reference server is configured: one frozen value, checked when it is made."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chatgauge._secret import Secret
from chatgauge.server._faults import FAULTS, FRAMINGS, Fault
from chatgauge.server._features import IGNORED, SUPPORTED, check_feature


@dataclass(frozen=True)
class ServerConfig:
    """Settings of one ``chatgauge serve`` instance.

    ``port`` 0 picks a free ephemeral port. With ``api_key`` set every request needs
    ``Authorization: Bearer KEY``. ``rate_limit_rps`` turns on a token bucket for chat
    completions (burst of ``max(1, rps)``). The latency model waits ``ttft_ms`` before the
    first content event and ``itl_ms`` between content steps, each moved by a uniform
    ``± jitter_ms`` drawn from a PRNG seeded with ``jitter_seed``. ``faults`` and
    ``framings`` are names from :data:`FAULTS` and :data:`FRAMINGS`. ``features`` maps a
    feature to the capability state the endpoint plays for it (``_features.py``; a mapping
    or pairs, kept as sorted pairs without the ``supported`` ones). ``max_concurrency``
    serves at most that many chat completions at once and queues the rest
    (``itl_growth_ms`` lengthens each inter-token gap per other stream served);
    ``ignore_eos`` makes every text answer exactly ``max_tokens`` tokens long when the
    request gives one (see :mod:`chatgauge.server._concurrency`).

    Raises ``ValueError`` with a one-line message when a value is out of range.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    models: tuple[str, ...] = ("pro", "fast", "default")
    api_key: Secret | None = None
    rate_limit_rps: float | None = None
    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    jitter_ms: float = 0.0
    timing_log: Path | None = None
    faults: frozenset[str] = frozenset()
    framings: frozenset[str] = frozenset()
    jitter_seed: int = 0
    features: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
    max_concurrency: int | None = None
    itl_growth_ms: float = 0.0
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        # Callers may hand over lists or sets; the frozen value keeps hashable containers.
        object.__setattr__(self, "models", tuple(self.models))
        pairs = dict(self.features).items()
        for name, state in pairs:
            try:
                check_feature(name, state)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        kept = tuple(sorted((n, s) for n, s in pairs if s != SUPPORTED))
        object.__setattr__(self, "features", kept)
        object.__setattr__(self, "faults", frozenset(self.faults))
        object.__setattr__(self, "framings", frozenset(self.framings))
        self._validate()

    def _validate(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not self.models:
            raise ValueError("at least one model name is needed")
        for model in self.models:
            if not model or model != model.strip():
                raise ValueError(f"model names must be non-empty without spaces around: {model!r}")
        if len(set(self.models)) != len(self.models):
            raise ValueError("model names must be unique")
        if self.rate_limit_rps is not None and not (
            math.isfinite(self.rate_limit_rps) and self.rate_limit_rps > 0
        ):
            raise ValueError(f"rate limit must be a positive number, got {self.rate_limit_rps}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(f"max concurrency must be at least 1, got {self.max_concurrency}")
        for name in ("ttft_ms", "itl_ms", "jitter_ms", "itl_growth_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        _check_names("fault", self.faults, FAULTS)
        _check_names("framing", self.framings, FRAMINGS)
        if Fault.NO_RETRY_AFTER in self.faults and self.rate_limit_rps is None:
            raise ValueError(f"fault {Fault.NO_RETRY_AFTER!r} needs a rate limit to show")
        if Fault.NO_AUTH_CHECK in self.faults and not self.api_key:
            raise ValueError(f"fault {Fault.NO_AUTH_CHECK!r} needs an API key to show")
        if self.feature_states.get("auth") == IGNORED and not self.api_key:
            raise ValueError("feature auth=ignored needs an API key to show")

    @property
    def feature_states(self) -> dict[str, str]:
        """The feature states other than ``supported``, by feature."""
        return dict(self.features)


def _check_names(kind: str, names: frozenset[str], known: Mapping[str, str]) -> None:
    unknown = sorted(name for name in names if name not in known)
    if unknown:
        valid = ", ".join(sorted(known))
        raise ValueError(f"unknown {kind} {unknown[0]!r}; valid {kind}s: {valid}")
