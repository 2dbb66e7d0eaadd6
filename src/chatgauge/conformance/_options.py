"""The conformance options, declared once for ``chatgauge check`` and the pytest plugin.

Each entry renders a ``chatgauge check`` flag (``--max-requests``), a plugin flag
(``--chatgauge-max-requests``), a pytest ini option (``chatgauge_max_requests``) and a key
of ``[tool.chatgauge]`` (``check.max-requests``: the ``[tool.chatgauge.check]`` table; the
endpoint keys ``base-url``, ``model``, ``api-key-env`` and ``insecure`` sit in
``[tool.chatgauge]`` itself). The API key has no config key: it comes from a flag or from
the environment variable that ``api-key-env`` names.
"""

from __future__ import annotations

import argparse
from typing import Final

from chatgauge._argtypes import (
    byte_size,
    non_negative_int,
    positive_int,
    positive_rate,
    positive_seconds,
)
from chatgauge._limits import Limits, format_size
from chatgauge._options import Option, OptionTable, show_value
from chatgauge._secret import Secret
from chatgauge.conformance._budget import DEFAULT_MAX_REQUESTS, DEFAULT_MAX_TOTAL_TOKENS
from chatgauge.conformance._context import DEFAULT_EXAMPLES
from chatgauge.conformance._contract import DEFAULT_PROFILE, profile_name
from chatgauge.conformance._features import FEATURES
from chatgauge.conformance._sending import (
    CONSECUTIVE_TIMEOUTS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_READ_TIMEOUT_S,
    DEFAULT_RUN_TIMEOUT_S,
)

_LIMITS = Limits()


def _seconds(value: float) -> str:
    return f"{value:g}"


def _size(value: int) -> str:
    return format_size(value).replace(" ", "")


def profile(text: str) -> str:
    """A contract profile name; ``argparse.ArgumentTypeError`` naming the valid ones."""
    try:
        return profile_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def env_name(text: str) -> str:
    """An environment variable name (letters, digits, underscores; not starting with a digit)."""
    name = text.strip()
    if not name or name[0].isdigit() or not all(c.isalnum() or c == "_" for c in name):
        raise ValueError(f"not an environment variable name: {text!r}")
    return name


CONFORMANCE_OPTIONS: Final = OptionTable(
    (
        Option(
            "base_url",
            "endpoint base URL incl. the API prefix, e.g. http://127.0.0.1:8000/v1",
            metavar="URL",
            env="OPENAI_BASE_URL",
            config="base-url",
        ),
        Option(
            "model",
            "model name to send requests to; repeatable (--model pro --model fast): each "
            "model is checked, with a verdict per model and overall. Without one, the only "
            "model the endpoint lists at /models is used",
            default=(),
            kind="list",
            metavar="NAME",
            config="model",
        ),
        Option(
            "api_key",
            "API key (prefer the environment variable: arguments are visible to other "
            "processes). Given a key, the endpoint must refuse requests without it",
            parse=Secret,
            metavar="KEY",
            env_from="api_key_env",
            config="api-key",
            secret=True,
        ),
        Option(
            "api_key_env",
            "environment variable that holds the API key",
            default="OPENAI_API_KEY",
            parse=env_name,
            metavar="NAME",
            config="api-key-env",
        ),
        Option(
            "insecure",
            "do not verify the endpoint's TLS certificate",
            default=False,
            kind="flag",
            config="insecure",
        ),
        Option(
            "strict",
            "validate bodies against the spec-literal schemas instead of the compat tier",
            default=False,
            kind="flag",
            config="check.strict",
        ),
        Option(
            "profile",
            "the contract: openai (a drop-in replacement, every feature required) or basic "
            "(chat, streaming, temperature, max_tokens, usage, json_object required; every "
            "other feature optional)",
            default=DEFAULT_PROFILE,
            parse=profile,
            metavar="NAME",
            config="check.profile",
        ),
        Option(
            "require",
            f"features the endpoint must offer, on top of the profile ({', '.join(FEATURES)})",
            default=(),
            kind="list",
            metavar="FEATURES",
            config="check.require",
        ),
        Option(
            "optional",
            "features the endpoint may leave out: refused cleanly is neutral, ignored a "
            "warning, broken a failure",
            default=(),
            kind="list",
            metavar="FEATURES",
            config="check.optional",
        ),
        Option(
            "select",
            "run only these checks: ids, rule numbers (B2) or groups (D); comma-separated "
            "or repeated",
            default=(),
            kind="list",
            metavar="IDS",
            config="check.select",
        ),
        Option(
            "ignore",
            "leave out these checks (same forms as select)",
            default=(),
            kind="list",
            metavar="IDS",
            config="check.ignore",
        ),
        Option(
            "max_requests",
            "hard cap on requests sent (per test process under pytest-xdist)",
            default=DEFAULT_MAX_REQUESTS,
            parse=positive_int,
            metavar="N",
            config="check.max-requests",
        ),
        Option(
            "max_total_tokens",
            "hard cap on tokens used (per test process under pytest-xdist)",
            default=DEFAULT_MAX_TOTAL_TOKENS,
            parse=positive_int,
            metavar="N",
            flag="max-tokens-total",
            config="check.max-tokens-total",
        ),
        Option(
            "examples",
            "Hypothesis examples per property",
            default=DEFAULT_EXAMPLES,
            parse=positive_int,
            metavar="N",
            config="check.examples",
        ),
        Option(
            "derandomize",
            "make the Hypothesis examples reproducible (for CI)",
            default=False,
            kind="flag",
            config="check.derandomize",
        ),
        Option(
            "rate",
            "send at most R requests per second (pacing; default: as fast as answered)",
            parse=positive_rate,
            metavar="R",
            config="check.rate",
            format=_seconds,
        ),
        Option(
            "max_retries",
            "retries of a request answered 429 or 503, after Retry-After (capped) or an "
            "exponential backoff with jitter; each retry counts toward --max-requests",
            default=DEFAULT_MAX_RETRIES,
            parse=non_negative_int,
            metavar="N",
            config="check.max-retries",
        ),
        Option(
            "max_retry_wait",
            "longest wait in seconds before one retry (a longer Retry-After is capped)",
            default=DEFAULT_MAX_RETRY_WAIT_S,
            parse=positive_seconds,
            metavar="S",
            config="check.max-retry-wait",
            format=_seconds,
        ),
        Option(
            "timeout",
            "longest silence in seconds between two reads of an answer (read timeout)",
            default=DEFAULT_READ_TIMEOUT_S,
            parse=positive_seconds,
            metavar="S",
            config="check.timeout",
            format=_seconds,
        ),
        Option(
            "total_timeout",
            "total deadline in seconds of one request, from connecting to the last byte; "
            f"{CONSECUTIVE_TIMEOUTS} timeouts in a row end the run as incomplete "
            "(endpoint unresponsive)",
            default=_LIMITS.total_timeout_s,
            parse=positive_seconds,
            metavar="S",
            config="check.total-timeout",
            format=_seconds,
        ),
        Option(
            "run_timeout",
            "deadline in seconds of the whole run; checks not judged by then are skipped "
            "and the run is incomplete",
            default=DEFAULT_RUN_TIMEOUT_S,
            parse=positive_seconds,
            metavar="S",
            config="check.run-timeout",
            format=_seconds,
        ),
        Option(
            "max_body_bytes",
            "largest answer body accepted (e.g. 16MiB); a larger one ends its request",
            default=_LIMITS.max_body_bytes,
            parse=byte_size,
            metavar="SIZE",
            config="check.max-body-bytes",
            format=_size,
        ),
        Option(
            "max_events",
            "most SSE events accepted in one stream",
            default=_LIMITS.max_events,
            parse=positive_int,
            metavar="N",
            config="check.max-events",
        ),
        Option(
            "max_line_bytes",
            "longest event-stream line accepted",
            default=_LIMITS.max_line_bytes,
            parse=byte_size,
            metavar="SIZE",
            config="check.max-line-bytes",
            format=_size,
        ),
        Option(
            "max_interim_responses",
            "most interim (1xx) responses accepted before the final one",
            default=_LIMITS.max_interim_responses,
            parse=non_negative_int,
            metavar="N",
            config="check.max-interim-responses",
        ),
        Option(
            "max_header_bytes",
            "largest response head (status line and headers) accepted",
            default=_LIMITS.max_header_bytes,
            parse=byte_size,
            metavar="SIZE",
            config="check.max-header-bytes",
            format=_size,
        ),
        Option(
            "report_dir",
            "where to write conformance.json, .html and .junit.xml",
            kind="path",
            metavar="DIR",
            config="check.report-dir",
        ),
    )
)
"""Every conformance option. ``report_dir`` has no default here: ``chatgauge check`` writes
to ``reports`` unless told otherwise, the plugin writes nothing unless asked."""


def plugin_flag(option: Option) -> str:
    """The option's pytest flag, e.g. ``--chatgauge-max-requests``."""
    return f"--chatgauge-{option.stem}"


def ini_name(option: Option) -> str:
    """The option's pytest ini name, e.g. ``chatgauge_max_requests``."""
    return f"chatgauge_{option.stem.replace('-', '_')}"


def options_markdown() -> str:
    """The option table as Markdown: every way to give each option, and its default."""
    lines = [
        "| setting | meaning | `chatgauge check` | pytest flag / ini option "
        "| `[tool.chatgauge]` key | environment | default |",
        "|---|---|---|---|---|---|---|",
    ]
    for option in CONFORMANCE_OPTIONS:
        cli = f"`{option.cli_flag}`" + (f" / `--no-{option.stem}`" if option.kind == "flag" else "")
        plugin = f"`{plugin_flag(option)}`"
        plugin += "" if option.secret else f" / `{ini_name(option)}`"
        if option.secret:
            key = "never (name the variable: `api-key-env`)"
        else:
            key = f"`{option.config}`" if option.config else ""
        env = f"`${option.env}`" if option.env else ""
        if option.env_from:
            named = CONFORMANCE_OPTIONS[option.env_from]
            env = f"`${named.default}`, or the one `{named.config}` names"
        lines.append(
            f"| `{option.name}` | {option.help} | {cli} | {plugin} | {key} | {env} "
            f"| {_default_doc(option)} |"
        )
    return "\n".join(lines) + "\n"


def _default_doc(option: Option) -> str:
    if option.name == "report_dir":
        return "`reports` for check; none under pytest (no files)"
    if option.kind == "flag":
        return "on" if option.default else "off"
    if option.default in (None, ()):
        return ""
    return f"`{show_value(option, option.default)}`"


__all__ = ["CONFORMANCE_OPTIONS", "env_name", "ini_name", "options_markdown", "plugin_flag"]
