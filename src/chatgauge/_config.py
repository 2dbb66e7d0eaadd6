"""Finding and reading the ``[tool.chatgauge]`` table of a ``pyproject.toml``.

The command line looks for the nearest ``pyproject.toml`` that has a ``[tool.chatgauge]``
table, from the working directory upwards (a ``pyproject.toml`` without the table is passed
over, as ruff passes over one without ``[tool.ruff]``). The pytest plugin reads the
``pyproject.toml`` of pytest's rootdir or inifile instead. Either way the result is a
:class:`ConfigFile`: the file's path and its table, or an error of one line naming the file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

PYPROJECT: Final = "pyproject.toml"
TOOL_TABLE: Final = "tool.chatgauge"


class ConfigError(ValueError):
    """A configuration file or value chatgauge cannot use (message: one line)."""


@dataclass(frozen=True)
class ConfigFile:
    """The ``[tool.chatgauge]`` table of one ``pyproject.toml`` (``table`` may be empty)."""

    path: Path
    table: dict[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """Where relative paths in the table are resolved from."""
        return self.path.parent


def read_pyproject(path: Path) -> ConfigFile:
    """The ``[tool.chatgauge]`` table of ``path``; :class:`ConfigError` when unreadable."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    tool = data.get("tool", {})
    table = tool.get("chatgauge", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{TOOL_TABLE}] must be a table")
    return ConfigFile(path=path.resolve(), table=table)


def _has_table(path: Path) -> bool:
    # A cheap test before parsing: most pyproject.toml files never mention chatgauge.
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "chatgauge" in text and bool(read_pyproject(path).table)


def find_pyproject(start: Path) -> ConfigFile | None:
    """The nearest ``pyproject.toml`` with a ``[tool.chatgauge]`` table, from ``start`` up."""
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / PYPROJECT
        if candidate.is_file() and _has_table(candidate):
            return read_pyproject(candidate)
    return None


__all__ = [
    "PYPROJECT",
    "TOOL_TABLE",
    "ConfigError",
    "ConfigFile",
    "find_pyproject",
    "read_pyproject",
]
