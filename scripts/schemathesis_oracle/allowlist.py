"""The allow-list: schemathesis findings that are not reference-endpoint bugs, each with why.

The file (``allowlist.yaml`` beside this module) is a YAML list of entries. Each entry has
an ``id``, a one-line ``finding`` (what schemathesis reports), a ``reason`` (why
schemathesis is wrong, or why the endpoint's answer is right) and at least one matcher; a
finding is allowed when every matcher the entry gives holds:

- ``check``: the schemathesis check name (``status_code_conformance``, ...);
- ``status``: a list of HTTP statuses of the response;
- ``mode``: ``positive`` or ``negative`` (how the request was generated);
- ``variant``: ``streamed`` or ``non-streamed`` (which patched spec ran);
- ``message``: a regular expression searched in schemathesis's failure message;
- ``error``: a regular expression searched in the endpoint's error message
  (``error.message`` of a JSON error body); a finding without one never matches it;
- ``response``: a regular expression searched in the response body.

:func:`load_allowlist` refuses an entry without an id, a finding, a reason or a matcher,
with an unknown key, or with a regular expression that does not compile, with one line
saying which.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from scripts.schemathesis_oracle.findings import Finding

ALLOWLIST_PATH: Final = Path(__file__).with_name("allowlist.yaml")
_TEXT_KEYS: Final = ("id", "finding", "reason")
_MATCHERS: Final = ("check", "status", "mode", "variant", "message", "error", "response")


class AllowlistError(Exception):
    """The allow-list file is malformed (the message says where)."""


@dataclass(frozen=True)
class Entry:
    """One allowed kind of finding."""

    id: str
    finding: str
    reason: str
    check: str | None = None
    status: tuple[int, ...] | None = None
    mode: str | None = None
    variant: str | None = None
    message: re.Pattern[str] | None = None
    error: re.Pattern[str] | None = None
    response: re.Pattern[str] | None = None

    def matches(self, finding: Finding) -> bool:
        """Whether every matcher of this entry holds for ``finding``."""
        if self.check is not None and finding.check != self.check:
            return False
        if self.status is not None and finding.status not in self.status:
            return False
        if self.mode is not None and finding.mode != self.mode:
            return False
        if self.variant is not None and finding.variant != self.variant:
            return False
        if self.message is not None and not self.message.search(finding.message):
            return False
        if self.response is not None and not self.response.search(finding.response_text):
            return False
        return self.error is None or (
            finding.error_message is not None and bool(self.error.search(finding.error_message))
        )


def parse_allowlist(data: Any) -> tuple[Entry, ...]:
    """Entries from the parsed YAML document (a list of mappings)."""
    if not isinstance(data, list):
        raise AllowlistError("the allow-list must be a YAML list of entries")
    entries = [_entry(item, index) for index, item in enumerate(data)]
    ids = [entry.id for entry in entries]
    duplicates = sorted({entry_id for entry_id in ids if ids.count(entry_id) > 1})
    if duplicates:
        raise AllowlistError(f"duplicate allow-list id {duplicates[0]!r}")
    return tuple(entries)


def _entry(item: Any, index: int) -> Entry:
    where = f"allow-list entry {index + 1}"
    if not isinstance(item, Mapping):
        raise AllowlistError(f"{where} is not a mapping")
    unknown = sorted(set(item) - {*_TEXT_KEYS, *_MATCHERS})
    if unknown:
        raise AllowlistError(f"{where} has an unknown key {unknown[0]!r}")
    for key in _TEXT_KEYS:
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise AllowlistError(f"{where} needs a non-empty {key!r}")
    where = f"allow-list entry {item['id']!r}"
    if not any(key in item for key in _MATCHERS):
        raise AllowlistError(f"{where} has no matcher ({', '.join(_MATCHERS)})")
    status = item.get("status")
    if status is not None and (
        not isinstance(status, list) or not all(isinstance(s, int) for s in status)
    ):
        raise AllowlistError(f"{where}: 'status' must be a list of integers")
    return Entry(
        id=item["id"],
        finding=" ".join(item["finding"].split()),
        reason=" ".join(item["reason"].split()),
        check=_text(item, "check", where),
        status=tuple(status) if status is not None else None,
        mode=_text(item, "mode", where),
        variant=_text(item, "variant", where),
        message=_pattern(item, "message", where),
        error=_pattern(item, "error", where),
        response=_pattern(item, "response", where),
    )


def _text(item: Mapping[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise AllowlistError(f"{where}: {key!r} must be a string")
    return value


def _pattern(item: Mapping[str, Any], key: str, where: str) -> re.Pattern[str] | None:
    text = _text(item, key, where)
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise AllowlistError(
            f"{where}: {key!r} is not a valid regular expression ({exc})"
        ) from None


def load_allowlist(path: Path = ALLOWLIST_PATH) -> tuple[Entry, ...]:
    """Read and check the allow-list file."""
    import yaml  # type: ignore[import-untyped, unused-ignore]  # installed by the nox session

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AllowlistError(f"cannot read the allow-list {path}: {exc}") from None
    return parse_allowlist(data)


def first_match(finding: Finding, entries: Sequence[Entry]) -> Entry | None:
    """The first entry that allows ``finding``, or None."""
    return next((entry for entry in entries if entry.matches(finding)), None)


def triage(
    findings: Iterable[Finding], entries: Sequence[Entry]
) -> tuple[dict[str, list[Finding]], list[Finding]]:
    """Findings sorted into allowed ones (by entry id, in file order) and the rest."""
    allowed: dict[str, list[Finding]] = {entry.id: [] for entry in entries}
    blocking: list[Finding] = []
    for finding in findings:
        entry = first_match(finding, entries)
        if entry is None:
            blocking.append(finding)
        else:
            allowed[entry.id].append(finding)
    return allowed, blocking
