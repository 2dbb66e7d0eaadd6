"""One declaration per conformance option: the table, its sources and their precedence.

The same table renders ``chatgauge check``'s flags and the pytest plugin's flags and ini
options; values come from a flag, the environment, pytest ini options, ``[tool.chatgauge]``
in ``pyproject.toml`` or the default, in that order, and ``--show-config`` says which. An
API key never comes from, and never appears in, a configuration file or its output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import chatgauge
from chatgauge._config import ConfigError, ConfigFile, find_pyproject, read_pyproject
from chatgauge._options import (
    Option,
    OptionTable,
    Source,
    parse_bool,
    pyproject_layer,
    resolve,
)
from chatgauge._secret import Secret
from chatgauge.cli import build_parser
from chatgauge.cli._check import CHECK_OPTIONS, resolve_check_options
from chatgauge.conformance._options import CONFORMANCE_OPTIONS, ini_name, plugin_flag
from chatgauge.conformance._settings import ConformanceSettings
from chatgauge.server import ServerConfig, background_server

pytest_plugins = ["pytester"]

KEY = "sk-options-test-key-5Kd81Zq"


def _env(**extra: str) -> dict[str, str]:
    dropped = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MY_GATEWAY_KEY")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return {**env, **extra}


def _chatgauge(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatgauge", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _pyproject(directory: Path, text: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def faithful_url() -> Iterator[str]:
    with background_server(ServerConfig(port=0)) as url:
        yield url


# -- the table --------------------------------------------------------------------------------


def _check_parser_dests() -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "==SUPPRESS==" and a.choices)
    check = subparsers.choices["check"]  # type: ignore[index]
    return {a.dest for a in check._actions}


def test_the_cli_renders_every_option_of_the_table() -> None:
    dests = _check_parser_dests()
    assert set(CONFORMANCE_OPTIONS.names()) <= dests
    assert dests - set(CONFORMANCE_OPTIONS.names()) == {"help", "list_checks", "show_config"}


def _plugin_args() -> list[str]:
    installed = any(
        ep.value == "chatgauge.conformance.plugin" for ep in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "chatgauge.conformance.plugin"]


@pytest.fixture
def importable_chatgauge(monkeypatch: pytest.MonkeyPatch) -> None:
    source_root = str(Path(chatgauge.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    )
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MY_GATEWAY_KEY"):
        monkeypatch.delenv(name, raising=False)


def _pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider", *args)


def test_the_plugin_renders_the_same_options_as_flags_and_ini_options(
    pytester: pytest.Pytester, importable_chatgauge: None
) -> None:
    shown = _pytest(pytester, "--help").stdout.str()
    cli_help = _chatgauge(pytester.path, "check", "--help").stdout
    for option in CONFORMANCE_OPTIONS:
        assert plugin_flag(option) in shown, option.name
        assert option.cli_flag in cli_help, option.name
        if option.kind == "flag":
            assert f"--no-chatgauge-{option.stem}" in shown
            assert f"--no-{option.stem}" in cli_help
        if option.config:
            assert f"{ini_name(option)} " in shown, option.name


def test_values_are_parsed_from_text_and_toml_alike() -> None:
    table = CONFORMANCE_OPTIONS
    assert table["strict"].coerce("yes", "x") is True
    assert table["strict"].coerce(False, "x") is False
    assert table["select"].coerce("B2, D", "x") == ("B2", "D")
    assert table["select"].coerce(["B2,D3", "E"], "x") == ("B2", "D3", "E")
    assert table["max_requests"].coerce(50, "x") == 50
    assert table["report_dir"].coerce("out", "x", Path("/base")) == Path("/base/out")
    assert table["report_dir"].coerce("/abs", "x", Path("/base")) == Path("/abs")
    with pytest.raises(ConfigError, match=r"^where: must be at least 1, got 0$"):
        table["max_requests"].coerce(0, "where")
    with pytest.raises(ConfigError, match=r"^where: expected true or false, got 'maybe'$"):
        table["strict"].coerce("maybe", "where")
    with pytest.raises(ConfigError, match=r"^where: expected a value, got True$"):
        table["max_requests"].coerce(True, "where")
    with pytest.raises(ConfigError, match=r"^where: expected a list of strings"):
        table["select"].coerce([1, 2], "where")
    assert parse_bool("OFF") is False


# -- precedence -------------------------------------------------------------------------------

_TABLE = OptionTable(
    (
        Option("model", "m", config="model"),
        Option("key", "k", env_from="key_env", config="key", secret=True, parse=Secret),
        Option("key_env", "e", default="DEFAULT_KEY", config="key-env"),
        Option("examples", "x", default=12, parse=int, env="EXAMPLES", config="check.examples"),
    )
)


def _layer(tmp_path: Path, text: str) -> ConfigFile:
    return read_pyproject(_pyproject(tmp_path, text))


def test_flag_beats_env_beats_config_beats_default(tmp_path: Path) -> None:
    config = _layer(
        tmp_path, "[tool.chatgauge]\nmodel = 'cfg'\n[tool.chatgauge.check]\nexamples = 3\n"
    )
    layers = [pyproject_layer(_TABLE, config)]

    def values(flags: dict[str, object], env: dict[str, str]) -> dict[str, tuple[object, str]]:
        found = resolve(_TABLE, flags=flags, env=env, layers=layers)
        return {name: (r.value, r.source.kind) for name, r in found.items()}

    assert values({}, {})["examples"] == (3, "config")
    assert values({}, {"EXAMPLES": "5"})["examples"] == (5, "env")
    assert values({"examples": 9}, {"EXAMPLES": "5"})["examples"] == (9, "flag")
    assert values({}, {})["model"] == ("cfg", "config")
    assert values({}, {})["key"] == (None, "default")
    no_config = resolve(_TABLE, flags={}, env={}, layers=[])
    assert no_config["examples"].value == 12
    assert no_config["examples"].source == Source("default", "$EXAMPLES not set")


def test_the_key_comes_from_the_variable_the_config_names_never_from_the_file(
    tmp_path: Path,
) -> None:
    named = _layer(tmp_path, "[tool.chatgauge]\nkey-env = 'MY_GATEWAY_KEY'\n")
    found = resolve(
        _TABLE, flags={}, env={"MY_GATEWAY_KEY": KEY}, layers=[pyproject_layer(_TABLE, named)]
    )
    assert found["key"].value == Secret(KEY)
    assert found["key"].source == Source("env", "$MY_GATEWAY_KEY")
    assert KEY not in found["key"].shown()

    holding = _layer(tmp_path, f"[tool.chatgauge]\nkey = '{KEY}'\n")
    with pytest.raises(ConfigError) as refused:
        pyproject_layer(_TABLE, holding)
    message = str(refused.value)
    assert "never read from a configuration file" in message
    assert KEY not in message
    assert "\n" not in message


def test_unknown_keys_are_errors_with_a_suggestion(tmp_path: Path) -> None:
    typo = _layer(tmp_path, "[tool.chatgauge.check]\nexampels = 3\n")
    with pytest.raises(ConfigError, match=r"exampels: unknown key \(did you mean 'examples'\?\)"):
        pyproject_layer(_TABLE, typo)
    misplaced = _layer(tmp_path, "[tool.chatgauge]\nexamples = 3\n")
    with pytest.raises(ConfigError, match=r"belongs in \[tool.chatgauge.check\]"):
        pyproject_layer(_TABLE, misplaced)
    # Another command's table is that command's business.
    other = _layer(tmp_path, "[tool.chatgauge.load]\nusers = 8\n")
    assert pyproject_layer(_TABLE, other).values == {}


def test_the_nearest_pyproject_with_a_chatgauge_table_is_used(tmp_path: Path) -> None:
    _pyproject(tmp_path, "[tool.chatgauge]\nmodel = 'outer'\n")
    inner = tmp_path / "pkg"
    inner.mkdir()
    _pyproject(inner, "[project]\nname = 'pkg'\n")  # no [tool.chatgauge]: passed over
    deep = inner / "src" / "deeper"
    deep.mkdir(parents=True)

    found = find_pyproject(deep)

    assert found is not None
    assert found.path == (tmp_path / "pyproject.toml").resolve()
    assert found.table == {"model": "outer"}


def test_a_broken_pyproject_is_one_line(tmp_path: Path) -> None:
    _pyproject(tmp_path, "[tool.chatgauge\nmodel = 'x'\n")
    done = _chatgauge(tmp_path, "check", "--show-config")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "not valid TOML" in done.stderr


# -- chatgauge check --------------------------------------------------------------------------

PROJECT = """
    [tool.chatgauge]
    model = "pro"
    api-key-env = "MY_GATEWAY_KEY"

    [tool.chatgauge.check]
    select = ["B2", "D3"]
    max-requests = 50
    examples = 4
    strict = true
    report-dir = "build/conformance"
"""


def test_show_config_states_every_value_and_its_source(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path, PROJECT)
    sub = tmp_path / "sub"
    sub.mkdir()

    done = _chatgauge(
        sub,
        "check",
        "--show-config",
        "--examples",
        "7",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        MY_GATEWAY_KEY=KEY,
    )

    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[3:] if line}
    where = str(pyproject.resolve())
    assert lines["base_url"].endswith("(env $OPENAI_BASE_URL)")
    assert "http://127.0.0.1:9/v1" in lines["base_url"]
    assert lines["model"].endswith(f"(config {where} [tool.chatgauge] model)")
    assert lines["api_key"].split()[1:3] == ["***", "(set)"]
    assert lines["api_key"].endswith("(env $MY_GATEWAY_KEY)")
    assert lines["select"].split()[1:3] == ["B2,", "D3"]
    assert lines["max_requests"].endswith("[tool.chatgauge.check] max-requests)")
    assert lines["examples"].endswith("(flag --examples)")
    assert lines["derandomize"].endswith("(default)")
    assert str(tmp_path.resolve() / "build" / "conformance") in lines["report_dir"]
    assert done.stdout.splitlines()[1] == f"config file: {where}"
    assert KEY not in done.stdout + done.stderr
    assert not (sub / "reports").exists()


def test_resolution_in_process_matches_the_precedence(tmp_path: Path) -> None:
    _pyproject(tmp_path, PROJECT)
    args = build_parser().parse_args(["check", "--no-strict", "--select", "C"])

    resolution, config = resolve_check_options(args, cwd=tmp_path, env={})

    assert config is not None
    settings = ConformanceSettings.from_values({n: r.value for n, r in resolution.items()})
    assert settings.strict is False  # the flag beats strict = true
    assert settings.select == ("C",)
    assert settings.max_requests == 50
    assert settings.model == "pro"
    assert settings.secret is None  # MY_GATEWAY_KEY is not set
    assert CHECK_OPTIONS["report_dir"].default == Path("reports")


def test_check_runs_from_pyproject_defaults_alone(tmp_path: Path, faithful_url: str) -> None:
    _pyproject(
        tmp_path,
        PROJECT.replace("[tool.chatgauge]", f'[tool.chatgauge]\nbase-url = "{faithful_url}"'),
    )
    sub = tmp_path / "sub"
    sub.mkdir()

    done = _chatgauge(sub, "check")

    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "build" / "conformance" / "conformance.json").read_text())
    assert document["endpoint"] == faithful_url
    assert {c["id"][:2] for c in document["checks"]} == {"B2", "D3"}
    assert document["settings"]["max_requests"] == 50
    assert document["settings"]["strict"] is True
    assert document["settings"]["examples"] == 4
    assert list(sub.iterdir()) == []


def test_a_key_in_pyproject_is_refused_without_echoing_it(tmp_path: Path) -> None:
    _pyproject(tmp_path, f'[tool.chatgauge]\nmodel = "pro"\napi-key = "{KEY}"\n')

    done = _chatgauge(tmp_path, "check", "--base-url", "http://127.0.0.1:9/v1")

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "[tool.chatgauge] api-key: an API key is never read" in done.stderr
    assert KEY not in done.stdout + done.stderr


# -- the pytest plugin ------------------------------------------------------------------------


def test_plugin_reads_pyproject_and_ini_with_the_same_precedence(
    pytester: pytest.Pytester, importable_chatgauge: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        chatgauge_max_requests = "70"
        chatgauge_examples = "5"

        [tool.chatgauge]
        model = "from-pyproject"
        api-key-env = "MY_GATEWAY_KEY"

        [tool.chatgauge.check]
        max-requests = 60
        select = "D"
        """
    )
    monkeypatch.setenv("MY_GATEWAY_KEY", KEY)

    result = _pytest(pytester, "--chatgauge-show-config", "--chatgauge-examples=6")

    assert result.ret == 0
    text = result.stdout.str()
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    pyproject = str(pytester.path / "pyproject.toml")
    assert lines["model"].endswith(f"(config {pyproject} [tool.chatgauge] model)")
    assert lines["max_requests"].endswith(f"(ini {pyproject} chatgauge_max_requests)")
    assert "70" in lines["max_requests"]
    assert lines["examples"].split()[1] == "6"
    assert lines["examples"].endswith("(flag --chatgauge-examples)")
    assert lines["select"].split()[1] == "D"
    assert lines["api_key"].endswith("(env $MY_GATEWAY_KEY)")
    assert KEY not in text


def test_plugin_runs_the_suite_configured_by_pyproject_alone(
    pytester: pytest.Pytester, importable_chatgauge: None, faithful_url: str
) -> None:
    pytester.makepyprojecttoml(
        f"""
        [tool.chatgauge]
        base-url = "{faithful_url}"
        model = "pro"

        [tool.chatgauge.check]
        select = ["B2"]
        report-dir = "out"
        """
    )

    result = _pytest(pytester, "--pyargs", "chatgauge.conformance.suite")

    assert result.ret == 0, result.stdout.str()
    document = json.loads((pytester.path / "out" / "conformance.json").read_text())
    assert {c["id"][:2] for c in document["checks"]} == {"B2"}
    assert document["settings"]["runner"] == "pytest"
    assert document["status"] == "passed"


def test_plugin_refuses_a_key_in_an_ini_file(
    pytester: pytest.Pytester, importable_chatgauge: None
) -> None:
    pytester.makeini(f"[pytest]\nchatgauge_api_key = {KEY}\n")

    result = _pytest(pytester, "--co")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "an API key is never read from a configuration file" in result.stderr.str()
    assert KEY not in result.stdout.str() + result.stderr.str()
