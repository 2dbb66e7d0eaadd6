"""Which models a run checks: those given, or the only one the endpoint lists.

``--model`` is repeatable; without it, ``GET {base_url}/models`` is asked: an endpoint that
lists exactly one model is checked on that model (and the run says so); any other answer is
a :class:`ConfigurationError` (exit 2 for ``chatgauge check``) that lists the served models,
so the user can pick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from chatgauge._client import ChatClient, EndpointError
from chatgauge._secret import redact
from chatgauge.conformance._settings import ConfigurationError, ConformanceSettings

LISTED: Final = 12
"""At most this many served models are named in the message."""


def served_models(settings: ConformanceSettings) -> list[str]:
    """The model ids ``GET {base_url}/models`` lists; :class:`ConfigurationError` when the
    endpoint gives no model list."""
    try:
        with ChatClient(settings.client_config()) as client:
            return client.list_models()
    except EndpointError as exc:
        raise ConfigurationError(
            f"no model: pass --model NAME (the served models could not be listed: "
            f"{redact(str(exc), settings.secret)})"
        ) from None


def choose_models(
    settings: ConformanceSettings, on_notice: Callable[[str], None]
) -> tuple[str, ...]:
    """The models to check: those the settings name, else the endpoint's only model
    (``on_notice`` is told); :class:`ConfigurationError` when the endpoint lists none or
    several."""
    given = settings.all_models
    if given:
        return given
    served = served_models(settings)
    where = f"{settings.base_url}/models"
    if len(served) == 1:
        on_notice(f"no --model given: checking {served[0]!r}, the only model {where} lists")
        return (served[0],)
    if not served:
        raise ConfigurationError(f"no model: pass --model NAME ({where} lists no model)")
    names = ", ".join(served[:LISTED]) + (
        f", and {len(served) - LISTED} more" if len(served) > LISTED else ""
    )
    raise ConfigurationError(
        f"no model: pass --model NAME (repeatable); the endpoint serves {len(served)}: {names}"
    )


__all__ = ["choose_models", "served_models"]
