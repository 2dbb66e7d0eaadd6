"""The conformance option table rendered into pytest: ``--chatgauge-*`` flags and ini options.

Each option of ``conformance/_options.py`` becomes a flag (``--chatgauge-max-requests``;
booleans also get ``--no-chatgauge-strict``) and an ini option (``chatgauge_max_requests``,
in ``pytest.ini``, ``tox.ini``, ``setup.cfg`` or ``[tool.pytest.ini_options]``). Values are
resolved with the same rules as ``chatgauge check``: flag, then environment, then the
pytest ini options, then ``[tool.chatgauge]`` of the ``pyproject.toml`` at pytest's inifile
or rootdir, then the default. An empty ini value counts as not set. The API key is never
read from an ini option or a pyproject table.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Final

import pytest

from chatgauge._config import PYPROJECT, ConfigError, ConfigFile, read_pyproject
from chatgauge._options import (
    Layer,
    Option,
    OptionTable,
    Resolved,
    describe,
    flags_of,
    help_text,
    pyproject_layer,
    resolve,
)
from chatgauge.conformance._options import CONFORMANCE_OPTIONS, ini_name, plugin_flag
from chatgauge.conformance._settings import ConformanceSettings

PLUGIN_OPTIONS: Final[OptionTable] = CONFORMANCE_OPTIONS


def plugin_dest(option: Option) -> str:
    """Where pytest keeps the flag's value (``config.getoption``)."""
    return f"chatgauge_{option.name}"


def add_plugin_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    """Add a flag to ``group`` and an ini option to ``parser`` for every option."""
    for option in PLUGIN_OPTIONS:
        text = help_text(option, PLUGIN_OPTIONS).replace("%", "%%")
        if option.kind == "flag":
            group.addoption(
                plugin_flag(option),
                dest=plugin_dest(option),
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text,
            )
        elif option.kind == "list":
            group.addoption(
                plugin_flag(option),
                dest=plugin_dest(option),
                action="append",
                metavar=option.metavar,
                help=text,
            )
        else:
            group.addoption(
                plugin_flag(option),
                dest=plugin_dest(option),
                type=Path if option.kind == "path" else option.parse,
                metavar=option.metavar,
                help=text,
            )
        if option.secret:
            # Registered only to be refused with a clear message when someone sets it.
            parser.addini(ini_name(option), "never read: use chatgauge_api_key_env", default="")
        elif option.config:
            parser.addini(ini_name(option), option.help, default="")


def _ini_layer(config: pytest.Config) -> Layer:
    values: dict[str, object] = {}
    where: dict[str, str] = {}
    origin = str(config.inipath) if config.inipath else "-o"
    for option in PLUGIN_OPTIONS:
        if not option.config:
            continue
        value = config.getini(ini_name(option))
        if isinstance(value, str) and value.strip():
            values[option.name] = value
            where[option.name] = f"{origin} {ini_name(option)}"
    base = config.inipath.parent if config.inipath else config.invocation_params.dir
    return Layer("ini", origin, values, base, where)


def plugin_pyproject(config: pytest.Config) -> ConfigFile | None:
    """The ``[tool.chatgauge]`` of pytest's inifile, if it is a ``pyproject.toml``, else of
    the rootdir's ``pyproject.toml``; ``None`` when there is none."""
    inipath = config.inipath
    path = inipath if inipath and inipath.name == PYPROJECT else config.rootpath / PYPROJECT
    return read_pyproject(path) if path.is_file() else None


def resolve_plugin_options(config: pytest.Config) -> tuple[dict[str, Resolved], ConfigFile | None]:
    """Every option's effective value and source; :class:`ConfigError` for a bad one."""
    flags = flags_of(
        {o.name: config.getoption(plugin_dest(o)) for o in PLUGIN_OPTIONS}, PLUGIN_OPTIONS
    )
    pyproject = plugin_pyproject(config)
    layers = [_ini_layer(config)]
    if pyproject is not None:
        layers.append(pyproject_layer(PLUGIN_OPTIONS, pyproject))
    resolution = resolve(
        PLUGIN_OPTIONS, flags=flags, env=os.environ, layers=layers, flag_name=plugin_flag
    )
    report = resolution["report_dir"]
    if report.value is not None and report.source.kind in ("flag", "env"):
        # Relative to where pytest was invoked, whatever rootdir or cwd changes follow.
        path = config.invocation_params.dir / Path(report.value)
        resolution["report_dir"] = Resolved(report.option, path, report.source)
    return resolution, pyproject


def plugin_settings(config: pytest.Config) -> ConformanceSettings:
    """The session's settings; ``pytest.UsageError`` (one line) for a bad value."""
    try:
        resolution, _ = resolve_plugin_options(config)
    except ConfigError as exc:
        raise pytest.UsageError(f"chatgauge: {exc}") from None
    return ConformanceSettings.from_values({n: r.value for n, r in resolution.items()})


def show_plugin_config(config: pytest.Config) -> str:
    """The ``--chatgauge-show-config`` text: sources, then one line per option."""
    try:
        resolution, pyproject = resolve_plugin_options(config)
    except ConfigError as exc:
        raise pytest.UsageError(f"chatgauge: {exc}") from None
    lines = [
        "chatgauge (pytest plugin): effective settings",
        f"ini file: {config.inipath or 'none'}",
        f"pyproject: {pyproject.path if pyproject else 'none'}",
        "",
        *describe(resolution),
    ]
    return "\n".join(lines)


__all__ = [
    "PLUGIN_OPTIONS",
    "add_plugin_options",
    "ini_name",
    "plugin_dest",
    "plugin_flag",
    "plugin_pyproject",
    "plugin_settings",
    "resolve_plugin_options",
    "show_plugin_config",
]
