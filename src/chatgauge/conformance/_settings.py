"""The settings of a conformance run: one value for the CLI, the plugin and the Python API.

:class:`ConformanceSettings` holds what the user chose (endpoint, key, model, how strictly
and how much to judge, where to write); it derives what the parts below need: the client
configuration, the checks' :class:`~chatgauge.conformance._context.Settings`, a fresh
:class:`~chatgauge.conformance._budget.Budget`, the selected checks and the
:class:`~chatgauge.results.conformance.RunSettings` recorded in ``conformance.json``. A
setting that makes the run impossible raises :class:`ConfigurationError` with one line
that says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chatgauge._client import ClientConfig
from chatgauge._limits import Limits
from chatgauge._options import split_list
from chatgauge._secret import Secret, redact
from chatgauge.conformance._budget import (
    DEFAULT_MAX_REQUESTS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MAX_TOTAL_TOKENS,
    Budget,
)
from chatgauge.conformance._context import DEFAULT_EXAMPLES, Settings
from chatgauge.conformance._contract import DEFAULT_PROFILE, make_contract
from chatgauge.conformance._registry import Check, all_checks, select_checks
from chatgauge.conformance._sending import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_READ_TIMEOUT_S,
    DEFAULT_RUN_TIMEOUT_S,
    SendPolicy,
)
from chatgauge.results.conformance import Contract, RunSettings

_LIMITS = Limits()

Runner = Literal["cli", "pytest", "api"]


class ConfigurationError(ValueError):
    """Settings a conformance run cannot start with (message: one line, what to do)."""


def _patterns(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return split_list(value)
    if isinstance(value, (list, tuple)):
        return tuple(p for item in value for p in split_list(str(item)))
    raise TypeError(f"expected check patterns as a string or a list, got {value!r}")


@dataclass(frozen=True)
class ConformanceSettings:
    """What to check and how: the input of :func:`chatgauge.run_conformance`.

    ``base_url`` includes the API prefix (``http://127.0.0.1:8000/v1``). ``api_key``
    (a :class:`~chatgauge.Secret` or a string, kept as a ``Secret``) is sent as a bearer
    token; given one, the endpoint is expected to refuse requests without it. ``select``
    and ``ignore`` take check ids, rule numbers (``B2``) or group letters (``D``), as a
    tuple or a comma-separated string. ``max_requests`` and ``max_total_tokens`` cap what
    the run may spend; ``examples`` is the number of Hypothesis examples per property,
    ``derandomize`` makes them reproducible. ``report_dir``, when set, receives
    ``conformance.json`` (rewritten after every check), ``conformance.html`` and
    ``conformance.junit.xml``.

    How requests are sent (``_sending.py``): ``rate`` paces them (requests per second,
    ``None``: unpaced); a 429 or 503 is retried up to ``max_retries`` times, each wait at
    most ``max_retry_wait`` seconds. Deadlines: ``timeout`` is the longest silence between
    two reads, ``total_timeout`` the deadline of one request, ``run_timeout`` that of the
    whole run (``None``: none). ``max_body_bytes``, ``max_events``, ``max_line_bytes``,
    ``max_interim_responses`` and ``max_header_bytes`` bound what the endpoint may send
    (:class:`~chatgauge._limits.Limits`).

    The contract (``_contract.py``): ``profile`` is ``openai`` (every feature required) or
    ``basic``; ``require`` and ``optional`` name features moved to either side (a tuple or
    a comma-separated string). ``models`` names several models to check one after the
    other (``chatgauge check`` does; one session checks ``model``).
    """

    base_url: str | None = None
    model: str | None = None
    api_key: Secret | str | None = None
    strict: bool = False
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    max_requests: int = DEFAULT_MAX_REQUESTS
    max_total_tokens: int = DEFAULT_MAX_TOTAL_TOKENS
    examples: int = DEFAULT_EXAMPLES
    derandomize: bool = False
    insecure: bool = False
    report_dir: Path | None = None
    rate: float | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT_S
    timeout: float = DEFAULT_READ_TIMEOUT_S
    total_timeout: float = _LIMITS.total_timeout_s
    run_timeout: float | None = DEFAULT_RUN_TIMEOUT_S
    max_body_bytes: int = _LIMITS.max_body_bytes
    max_events: int = _LIMITS.max_events
    max_line_bytes: int = _LIMITS.max_line_bytes
    max_interim_responses: int = _LIMITS.max_interim_responses
    max_header_bytes: int = _LIMITS.max_header_bytes
    profile: str = DEFAULT_PROFILE
    require: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__, once, before anyone reads them. A
        # key given as text becomes a Secret here, so no repr ever shows it.
        if isinstance(self.api_key, str):
            object.__setattr__(self, "api_key", Secret(self.api_key) if self.api_key else None)
        object.__setattr__(self, "select", _patterns(self.select))
        object.__setattr__(self, "ignore", _patterns(self.ignore))
        object.__setattr__(self, "require", _patterns(self.require))
        object.__setattr__(self, "optional", _patterns(self.optional))
        if self.report_dir is not None:  # a str is welcome too
            object.__setattr__(self, "report_dir", Path(self.report_dir))

    @property
    def secret(self) -> Secret | None:
        """The API key (``None`` without one)."""
        key = self.api_key
        return key if isinstance(key, Secret) and key else None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> ConformanceSettings:
        """Settings from resolved option values by name (extra names are ignored).

        ``model`` may be a list of names (the option is repeatable): the first becomes
        ``model``, all of them ``models``.
        """
        names = set(cls.__dataclass_fields__)
        kept = {k: v for k, v in values.items() if k in names}
        model = kept.get("model")
        if isinstance(model, (list, tuple)):
            listed = tuple(dict.fromkeys(str(m) for m in model))
            kept["model"] = listed[0] if listed else None
            kept["models"] = listed
        return cls(**kept)

    @property
    def all_models(self) -> tuple[str, ...]:
        """Every model to check: ``models``, else ``model`` (empty: none given)."""
        if self.models:
            return self.models
        return (self.model,) if self.model else ()

    def client_config(self) -> ClientConfig:
        """The endpoint's client configuration; :class:`ConfigurationError` when the base
        URL is missing or not usable."""
        if not self.base_url:
            raise ConfigurationError("no endpoint: pass --base-url URL or set OPENAI_BASE_URL")
        try:
            return ClientConfig(
                base_url=self.base_url,
                api_key=self.secret,
                verify_tls=not self.insecure,
                read_timeout_s=self.timeout,
                limits=self.limits(),
            )
        except ValueError as exc:
            raise ConfigurationError(redact(str(exc), self.secret)) from None

    def limits(self) -> Limits:
        """The bounds on what the endpoint may send; :class:`ConfigurationError` for a bad
        value."""
        try:
            return Limits(
                total_timeout_s=self.total_timeout,
                max_body_bytes=self.max_body_bytes,
                max_events=self.max_events,
                max_line_bytes=self.max_line_bytes,
                max_interim_responses=self.max_interim_responses,
                max_header_bytes=self.max_header_bytes,
                # What an exchange keeps never exceeds what it may receive.
                keep_body_bytes=min(_LIMITS.keep_body_bytes, self.max_body_bytes),
                excerpt_bytes=min(_LIMITS.excerpt_bytes, self.max_body_bytes),
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None

    def send_policy(self) -> SendPolicy:
        """The sending rules of the run: pacing, retries, deadlines."""
        return SendPolicy(
            rate=self.rate,
            max_retries=self.max_retries,
            max_retry_wait_s=self.max_retry_wait,
            run_timeout_s=self.run_timeout,
            total_timeout_s=self.total_timeout,
        )

    def contract(self) -> Contract:
        """The run's contract; :class:`ConfigurationError` for an unknown profile or feature,
        or a feature given both as required and as optional."""
        try:
            return make_contract(self.profile, self.require, self.optional)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None

    def check_settings(self) -> Settings:
        """What the checks judge by; :class:`ConfigurationError` without a model."""
        if not self.model:
            raise ConfigurationError("no model: pass --model NAME")
        return Settings(
            model=self.model,
            auth_required=self.secret is not None,
            strict=self.strict,
            examples=self.examples,
            derandomize=self.derandomize,
            # An endpoint that refuses an optional seed must still be judged on the rest.
            send_seed="seed" not in self.contract().optional,
        )

    def budget(self) -> Budget:
        """A fresh budget with the configured caps."""
        return Budget(max_requests=self.max_requests, max_tokens=self.max_total_tokens)

    def selected_checks(self) -> list[Check]:
        """The catalogue after ``select`` and ``ignore``; :class:`ConfigurationError` for
        an unknown pattern or an empty selection."""
        try:
            checks = select_checks(all_checks(), self.select, self.ignore)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if not checks:
            raise ConfigurationError("no check to run (the selection is empty)")
        return checks

    def run_settings(self, runner: Runner) -> RunSettings:
        """The settings recorded in ``conformance.json`` (never the key itself)."""
        return RunSettings(
            runner=runner,
            strict=self.strict,
            auth_required=self.secret is not None,
            examples=self.examples,
            derandomize=self.derandomize,
            max_tokens=DEFAULT_MAX_TOKENS,
            max_requests=self.max_requests,
            max_total_tokens=self.max_total_tokens,
            select=self.select,
            ignore=self.ignore,
            verify_tls=not self.insecure,
            rate=self.rate,
            max_retries=self.max_retries,
            timeout_s=self.timeout,
            total_timeout_s=self.total_timeout,
            run_timeout_s=self.run_timeout,
            max_body_bytes=self.max_body_bytes,
        )


__all__ = ["ConfigurationError", "ConformanceSettings", "Runner"]
