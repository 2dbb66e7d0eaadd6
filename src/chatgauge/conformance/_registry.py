"""The check catalogue: every rule is a plain function registered with its metadata.

A check is ``def check(ctx: CheckContext) -> str | None``: it sends probes through the
context, returns an optional note when the rule holds, and raises a
:class:`~chatgauge.conformance._results.CheckOutcome` subclass otherwise. Its docstring is
the rule text users see in reports. Ids are stable: an id is never reused for another rule.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatgauge.conformance._results import Severity, Tier
from chatgauge.results.conformance import GROUPS

if TYPE_CHECKING:
    from chatgauge.conformance._context import CheckContext

CheckFunction = Callable[["CheckContext"], "str | None"]

_ID = re.compile(r"^[A-H][0-9]+(-[a-z0-9]+)+$")


@dataclass(frozen=True)
class Check:
    """A registered check and its metadata."""

    id: str
    title: str
    group: str
    tier: Tier
    severity: Severity
    spec_ref: str
    func: CheckFunction

    @property
    def rule(self) -> str:
        """The rule text: the check function's docstring, dedented."""
        return inspect.cleandoc(self.func.__doc__ or "")

    @property
    def group_title(self) -> str:
        """The human name of the check's group."""
        return GROUPS[self.group]


_REGISTRY: dict[str, Check] = {}


def check(
    id: str,
    title: str,
    *,
    tier: Tier,
    severity: Severity = Severity.MAJOR,
    spec_ref: str = "",
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check ``id`` (e.g. ``D3-single-done``)."""
    if not _ID.match(id):
        raise ValueError(f"check id {id!r} must look like 'D3-single-done'")

    def decorate(func: CheckFunction) -> CheckFunction:
        if id in _REGISTRY:
            raise ValueError(f"check id {id!r} registered twice")
        if not (func.__doc__ or "").strip():
            raise ValueError(f"check {id!r} needs a docstring stating its rule")
        _REGISTRY[id] = Check(id, title, id[0], tier, severity, spec_ref, func)
        return func

    return decorate


def all_checks() -> list[Check]:
    """Every registered check, in catalogue order (group, rule number, id)."""
    # Importing the check modules registers them; done here so importing the registry is cheap.
    from chatgauge.conformance import checks  # noqa: F401

    def order(c: Check) -> tuple[str, int, str]:
        number = re.match(r"^[A-H]([0-9]+)", c.id)
        return (c.group, int(number.group(1)) if number else 0, c.id)

    return sorted(_REGISTRY.values(), key=order)


def select_checks(
    checks: Iterable[Check],
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
) -> list[Check]:
    """Filter by id patterns: ``B2`` matches every ``B2-*`` check, ``B`` the whole group, in
    any letter case (``d3`` is ``D3``).

    An empty ``select`` keeps everything. Unknown patterns raise ``ValueError`` so a typo
    never silently runs nothing.
    """
    pool = list(checks)
    select, ignore = list(select), list(ignore)

    for pattern in (*select, *ignore):
        if not any(_matches(c, pattern) for c in pool):
            raise ValueError(f"no check matches {pattern!r} (see --list-checks)")
    kept = [c for c in pool if not select or any(_matches(c, p) for p in select)]
    return [c for c in kept if not any(_matches(c, p) for p in ignore)]


def _matches(check: Check, pattern: str) -> bool:
    # Ids, rule numbers and groups match whatever their letter case: "d3" is D3.
    pattern = pattern.strip().lower()
    if len(pattern) == 1:
        return check.group.lower() == pattern
    check_id = check.id.lower()
    return check_id == pattern or check_id.startswith(pattern + "-")
