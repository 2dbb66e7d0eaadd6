"""Several models of one endpoint side by side: the overall verdict, directories, capabilities.

A run over several models is one conformance run per model. The overall verdict is the
worst of theirs, in this order: ``interrupted`` (a model has no verdict), ``failed``,
``incomplete``, ``passed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from chatgauge.results._text import terminal_text
from chatgauge.results.conformance import ConformanceRun, RunStatus

MODELS_PAGE: Final = "models.html"
"""The page that shows the models of a multi-model run side by side (a matrix)."""

_WORST_FIRST: Final = (
    RunStatus.INTERRUPTED,
    RunStatus.FAILED,
    RunStatus.INCOMPLETE,
    RunStatus.PASSED,
)
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def overall_status(statuses: Iterable[RunStatus]) -> RunStatus:
    """The worst of ``statuses`` (module docstring); ``interrupted`` for none at all."""
    found = set(statuses)
    return next((s for s in _WORST_FIRST if s in found), RunStatus.INTERRUPTED)


def model_directories(models: Sequence[str]) -> dict[str, str]:
    """A directory name per model: its name with unsafe characters replaced, made unique
    (``org/model:v1`` becomes ``org_model_v1``; a clash gets ``-2``, ``-3``, ...)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for model in models:
        base = _UNSAFE.sub("_", model).strip("._") or "model"
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}-{number}"
        taken.add(name)
        names[model] = name
    return names


def models_capability_lines(runs: Sequence[tuple[str, ConformanceRun]]) -> list[str]:
    """Features x models as text: each model's capability state per feature."""
    features: dict[str, None] = {}
    for _, run in runs:
        features.update(dict.fromkeys(run.capabilities))
    if not features:
        return []
    width = max(len(f) for f in features)
    cell = max(12, *(len(terminal_text(model)) + 2 for model, _ in runs))
    head = "".join(f"{terminal_text(model):<{cell}}" for model, _ in runs)
    lines = [f"capabilities by model:\n  {'':<{width}}  {head}".rstrip()]
    for feature in features:
        states = []
        for _, run in runs:
            capability = run.capabilities.get(feature)
            states.append(capability.status.value if capability else "-")
        lines.append(f"  {feature:<{width}}  " + "".join(f"{s:<{cell}}" for s in states).rstrip())
    return lines


__all__ = ["MODELS_PAGE", "model_directories", "models_capability_lines", "overall_status"]
