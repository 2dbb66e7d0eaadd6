"""Options declared once: a table rendered into argparse and the pytest plugin, and resolved.

An :class:`Option` says everything about one setting: its name, how its text is parsed,
its default, its help, the environment variable it may come from and its key in
``[tool.chatgauge]``. An :class:`OptionTable` renders into an argparse parser
(:func:`add_arguments`; the pytest plugin renders the same table into ``addoption`` and
``addini``) and :func:`resolve` turns the sources into one value per option, each with the
:class:`Source` it came from. Precedence, highest first:

1. a command-line flag (``--max-requests 50``);
2. the environment (``OPENAI_BASE_URL``);
3. configuration layers in the order given: for the plugin its pytest ini options, then
   ``[tool.chatgauge]`` in ``pyproject.toml``; for the command line ``pyproject.toml``;
4. the option's default.

A secret option (the API key) is never read from a configuration file: a file that holds
one is refused with an error that says to name an environment variable instead.

Config keys are written ``base-url`` (a key of ``[tool.chatgauge]`` itself, shared by every
command) or ``check.max-requests`` (a key of the ``[tool.chatgauge.check]`` sub-table). A
table validates the sections it owns: an unknown key there is an error (a typo must not be
silently ignored); another command's sub-table is left to that command.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from chatgauge._config import TOOL_TABLE, ConfigError, ConfigFile

Kind = Literal["value", "flag", "list", "path"]
SourceKind = Literal["flag", "env", "ini", "config", "default"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_bool(text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off, any case); ``ValueError`` otherwise."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def split_list(text: str) -> tuple[str, ...]:
    """Items of a comma- or newline-separated list, stripped, empty ones dropped."""
    return tuple(p.strip() for p in text.replace("\n", ",").split(",") if p.strip())


@dataclass(frozen=True)
class Option:
    """One setting and every way it can be given.

    ``kind``: ``value`` (one text, parsed by ``parse``), ``flag`` (a boolean, rendered as
    ``--x`` / ``--no-x``), ``list`` (repeatable, comma-separated) or ``path`` (a path; one
    from a configuration file is relative to that file's directory). ``flag`` is the
    flag's stem (``max-tokens-total`` renders ``--max-tokens-total``; by default the name
    with dashes). ``env`` names the environment variable; ``env_from`` names the option
    whose value is that variable's name. ``config`` is the key in ``[tool.chatgauge]``
    (``None``: not configurable). ``secret`` values are masked when shown and never read
    from a configuration file. ``format`` shows a value as a user writes it (``16MiB``
    rather than ``16777216``) in help texts and ``--show-config``.
    """

    name: str
    help: str
    default: Any = None
    kind: Kind = "value"
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    flag: str = ""
    env: str | None = None
    env_from: str | None = None
    config: str | None = None
    secret: bool = False
    format: Callable[[Any], str] | None = None

    @property
    def stem(self) -> str:
        """The flag without its dashes, e.g. ``max-tokens-total``."""
        return self.flag or self.name.replace("_", "-")

    @property
    def cli_flag(self) -> str:
        """The command-line flag, e.g. ``--max-tokens-total``."""
        return f"--{self.stem}"

    @property
    def section(self) -> str:
        """The sub-table of ``[tool.chatgauge]`` holding the config key (``""``: the table)."""
        return self.config.rpartition(".")[0] if self.config else ""

    @property
    def key(self) -> str:
        """The config key within its section, e.g. ``max-requests``."""
        return self.config.rpartition(".")[2] if self.config else ""

    @property
    def table_name(self) -> str:
        """The TOML table the config key lives in, e.g. ``[tool.chatgauge.check]``."""
        return f"[{TOOL_TABLE}{'.' + self.section if self.section else ''}]"

    def coerce(self, raw: object, where: str, base: Path | None = None) -> Any:
        """``raw`` (text from a flag, the environment or an ini file, or a TOML value) as
        this option's value; :class:`ConfigError` naming ``where`` when it does not fit."""
        try:
            return self._coerce(raw, base)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def _coerce(self, raw: object, base: Path | None) -> Any:
        if self.kind == "flag":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str):
                return parse_bool(raw)
            raise TypeError(f"expected true or false, got {raw!r}")
        if self.kind == "list":
            if isinstance(raw, str):
                return split_list(raw)
            if isinstance(raw, (list, tuple)) and all(isinstance(i, str) for i in raw):
                return tuple(p for item in raw for p in split_list(item))
            raise TypeError(f"expected a list of strings, got {raw!r}")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise TypeError(f"expected a {'path' if self.kind == 'path' else 'value'}, got {raw!r}")
        if self.kind == "path":
            path = Path(str(raw))
            return base / path if base is not None and not path.is_absolute() else path
        return self.parse(str(raw))


@dataclass(frozen=True)
class OptionTable:
    """The options of one command, in the order they are shown."""

    options: tuple[Option, ...]

    def __iter__(self) -> Any:
        return iter(self.options)

    def __getitem__(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)

    def names(self) -> list[str]:
        """Every option's name, in order."""
        return [o.name for o in self.options]

    def with_defaults(self, **defaults: Any) -> OptionTable:
        """The same table with some defaults replaced (one command's own defaults)."""
        unknown = set(defaults) - set(self.names())
        if unknown:
            raise KeyError(f"no such options: {', '.join(sorted(unknown))}")
        return OptionTable(
            tuple(replace(o, default=defaults.get(o.name, o.default)) for o in self.options)
        )

    def sections(self) -> set[str]:
        """The ``[tool.chatgauge]`` sections this table owns (``""`` is the table itself)."""
        return {o.section for o in self.options if o.config}


@dataclass(frozen=True)
class Source:
    """Where a value came from: its kind and a human description (``--model``, a path)."""

    kind: SourceKind
    where: str = ""

    def __str__(self) -> str:
        return self.kind if not self.where else f"{self.kind} {self.where}"


@dataclass(frozen=True)
class Resolved:
    """An option's effective value and where it came from."""

    option: Option
    value: Any
    source: Source

    def shown(self) -> str:
        """The value as text fit to print (a secret masked)."""
        return show_value(self.option, self.value)


@dataclass(frozen=True)
class Layer:
    """Values from one configuration source, by option name (e.g. a pyproject table)."""

    kind: Literal["ini", "config"]
    label: str
    values: Mapping[str, object] = field(default_factory=dict)
    base: Path | None = None
    where: Mapping[str, str] = field(default_factory=dict)


def show_value(option: Option, value: Any) -> str:
    """``value`` of ``option`` as text: secrets masked, lists joined, ``None`` as not set."""
    if value is None or value == ():
        return "(not set)"
    if option.secret:
        return "*** (set)"
    if option.format is not None:
        return option.format(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value)


def pyproject_layer(table: OptionTable, config: ConfigFile) -> Layer:
    """The values ``config`` gives ``table``'s options, after checking its keys.

    An unknown key in a section the table owns is an error with a suggestion; a secret
    option's key is refused.
    """
    values: dict[str, object] = {}
    where: dict[str, str] = {}
    by_section: dict[str, dict[str, Option]] = {}
    for option in table:
        if option.config:
            by_section.setdefault(option.section, {})[option.key] = option
    for section, known in by_section.items():
        data = config.table if not section else config.table.get(section, {})
        if not isinstance(data, dict):
            raise ConfigError(f"{config.path}: [{TOOL_TABLE}.{section}] must be a table")
        for key, raw in data.items():
            if isinstance(raw, dict) and not section:
                continue  # a sub-table: its own section (or another command's)
            place = f"{config.path} [{TOOL_TABLE}{'.' + section if section else ''}] {key}"
            option = known.get(key)
            if option is None:
                raise ConfigError(f"{place}: unknown key{_suggestion(key, known, table)}")
            if option.secret:
                raise ConfigError(f"{place}: {_NOT_FROM_FILES}")
            values[option.name] = raw
            where[option.name] = place
    return Layer("config", str(config.path), values, config.directory, where)


_NOT_FROM_FILES = (
    "an API key is never read from a configuration file; name the environment variable "
    "that holds it instead (api-key-env in [tool.chatgauge], chatgauge_api_key_env in a "
    "pytest ini file)"
)


def _suggestion(key: str, known: Mapping[str, Option], table: OptionTable) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    elsewhere = [o for o in table if o.key == key and o.config]
    if elsewhere:
        return f" (it belongs in {elsewhere[0].table_name})"
    return f" (known: {', '.join(sorted(known))})"


def refuse_secret(where: str) -> ConfigError:
    """The error for a secret found in a configuration source at ``where``."""
    return ConfigError(f"{where}: {_NOT_FROM_FILES}")


def resolve(
    table: OptionTable,
    *,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    layers: Sequence[Layer] = (),
    flag_name: Callable[[Option], str] = lambda option: option.cli_flag,
) -> dict[str, Resolved]:
    """Every option's effective value (see the module docstring for the precedence).

    ``flags`` holds the values given on the command line (already parsed), by option name;
    an absent name or ``None`` means not given. ``flag_name`` names an option's flag in
    the sources shown (the plugin's flags have a prefix).
    """
    resolved: dict[str, Resolved] = {}

    def one(option: Option) -> Resolved:
        if option.name in resolved:
            return resolved[option.name]
        result = _resolve_one(option, flags, env, layers, one, table, flag_name)
        resolved[option.name] = result
        return result

    for option in table:
        one(option)
    return {name: resolved[name] for name in table.names()}


def _resolve_one(
    option: Option,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    layers: Sequence[Layer],
    lookup: Callable[[Option], Resolved],
    table: OptionTable,
    flag_name: Callable[[Option], str],
) -> Resolved:
    given = flags.get(option.name)
    if given is not None and given != []:
        value = tuple(given) if option.kind == "list" else given
        return Resolved(option, value, Source("flag", flag_name(option)))
    variable = option.env
    if option.env_from:
        variable = lookup(table[option.env_from]).value
    if variable and env.get(variable):
        where = f"${variable}"
        return Resolved(option, option.coerce(env[variable], where), Source("env", where))
    for layer in layers:
        if option.name not in layer.values:
            continue
        where = layer.where.get(option.name, layer.label)
        if option.secret:
            raise refuse_secret(where)
        value = option.coerce(layer.values[option.name], where, layer.base)
        return Resolved(option, value, Source(layer.kind, where))
    unset = f"${variable} not set" if variable else ""
    return Resolved(option, option.default, Source("default", unset))


# -- argparse ---------------------------------------------------------------------------------


def help_text(option: Option, table: OptionTable | None = None) -> str:
    """The option's help with its default, variable and config key appended."""
    extras = []
    shown = _default_text(option)
    if shown:
        extras.append(f"default: {shown}")
    if option.env:
        extras.append(f"env ${option.env}")
    if option.env_from and table is not None:
        named = table[option.env_from]
        extras.append(f"env ${named.default}, or the variable {named.stem} names")
    if option.config and not option.secret:
        extras.append(f"config {option.config}")
    return f"{option.help} ({'; '.join(extras)})" if extras else option.help


def _default_text(option: Option) -> str:
    if option.kind == "flag":
        return "on" if option.default else "off"
    if option.default in (None, ()):
        return ""
    return show_value(option, option.default)


def add_arguments(parser: argparse.ArgumentParser | Any, table: OptionTable) -> None:
    """Add one argument per option to ``parser`` (an argparse parser or argument group).

    Every default is ``None`` so :func:`flags_of` can tell a given flag from an absent one;
    the help states the table's default instead.
    """
    for option in table:
        text = help_text(option, table).replace("%", "%%")
        if option.kind == "flag":
            parser.add_argument(
                option.cli_flag,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text,
            )
        elif option.kind == "list":
            parser.add_argument(
                option.cli_flag,
                dest=option.name,
                action="append",
                type=split_list,
                metavar=option.metavar,
                help=text,
            )
        else:
            parser.add_argument(
                option.cli_flag,
                dest=option.name,
                type=Path if option.kind == "path" else option.parse,
                metavar=option.metavar,
                help=text,
            )


def flags_of(values: Mapping[str, Any] | argparse.Namespace, table: OptionTable) -> dict[str, Any]:
    """The given (non-``None``) flag values of ``table``'s options, by name.

    List options arrive as one tuple per repetition and are flattened here.
    """
    data = vars(values) if isinstance(values, argparse.Namespace) else values
    found: dict[str, Any] = {}
    for option in table:
        value = data.get(option.name)
        if value is None:
            continue
        if option.kind == "list":
            value = tuple(p for chunk in value for p in _as_items(chunk))
        found[option.name] = value
    return found


def _as_items(chunk: object) -> Iterable[str]:
    if isinstance(chunk, str):
        return split_list(chunk)
    if isinstance(chunk, (tuple, list)):
        return [str(c) for c in chunk]
    return [str(chunk)]


def describe(resolution: Mapping[str, Resolved]) -> list[str]:
    """One aligned line per option: name, shown value, where it came from."""
    rows = [(name, r.shown(), str(r.source)) for name, r in resolution.items()]
    name_width = max((len(n) for n, _, _ in rows), default=0)
    value_width = max((len(v) for _, v, _ in rows), default=0)
    return [
        f"{name:<{name_width}}  {value:<{value_width}}  ({source})".rstrip()
        for name, value, source in rows
    ]


__all__ = [
    "ConfigError",
    "Layer",
    "Option",
    "OptionTable",
    "Resolved",
    "Source",
    "add_arguments",
    "describe",
    "flags_of",
    "help_text",
    "parse_bool",
    "pyproject_layer",
    "refuse_secret",
    "resolve",
    "show_value",
    "split_list",
]
