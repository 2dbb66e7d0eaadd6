"""The layer table of ARCHITECTURE.md, checked against the imports the code really makes;
and the size limits every module (600 lines) and class (300 lines) keeps.

Each layer may import the layers listed for it (and itself); an import of any other
chatgauge layer fails here, naming the module and the import. Lazy imports inside functions
count too: a layer rule is about what a module may reach, not only when.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chatgauge"

CORE = "core"
TRANSPORT = "transport"
# The top-level package re-exports the public API of both halves.
API = "api"

_CORE_MODULES = {
    "_models",
    "_secret",
    "_sse",
    "_version",
    "_limits",
    "_bounded",
    "_jsonguard",
    "_argtypes",
    "_options",
    "_config",
}
_TRANSPORT_MODULES = {"_client", "_transport"}

ALLOWED: dict[str, set[str]] = {
    CORE: {CORE},
    TRANSPORT: {CORE, TRANSPORT},
    "results": {CORE, "results"},
    "server": {CORE, "server"},
    "schemas": {"schemas"},
    "reports": {"results", "reports"},
    "conformance": {CORE, TRANSPORT, "results", "schemas", "reports", "conformance"},
    "loadtests": {CORE, "results", "reports", "loadtests"},
    "cli": {CORE, TRANSPORT, "results", "server", "reports", "conformance", "loadtests", "cli"},
    API: {CORE, TRANSPORT, "results", "conformance", "loadtests", "cli"},
}

# Third-party packages that only some layers may import (the rest are unrestricted).
RESTRICTED = {"locust": {"loadtests"}, "gevent": {"loadtests"}}


def _layer_of_module(parts: tuple[str, ...]) -> str:
    """The layer of a module path inside the package, e.g. ``("loadtests", "_users")``."""
    head = parts[0]
    if len(parts) == 1:
        if head in _CORE_MODULES:
            return CORE
        if head in _TRANSPORT_MODULES:
            return TRANSPORT
        if head in ("__init__", "__main__"):
            return API
        raise AssertionError(f"module chatgauge.{head} is in no layer of ARCHITECTURE.md")
    return head


def _layer_of_target(names: list[str]) -> str:
    """The layer an import of ``chatgauge.<names>`` reaches."""
    if not names:
        return API
    if (PACKAGE / names[0]).is_dir():
        return names[0]
    return _layer_of_module((names[0],))


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_respects_the_layer_table(path: Path) -> None:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    layer = _layer_of_module(parts)
    for line, module in _imports(path):
        names = module.split(".")
        if names[0] == "chatgauge":
            target = _layer_of_target(names[1:])
            assert target in ALLOWED[layer], (
                f"{path.relative_to(PACKAGE)}:{line} imports {module} "
                f"(layer {layer!r} may import {sorted(ALLOWED[layer])})"
            )
        elif names[0] in RESTRICTED:
            assert layer in RESTRICTED[names[0]], (
                f"{path.relative_to(PACKAGE)}:{line} imports {module}: only "
                f"{sorted(RESTRICTED[names[0]])} may"
            )


def test_the_layer_table_names_every_layer_it_checks() -> None:
    text = (PACKAGE.parents[1] / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for layer in ("results/", "server/", "schemas/", "reports/", "conformance/", "loadtests/"):
        assert layer in text
    for module in sorted(_CORE_MODULES | _TRANSPORT_MODULES):
        assert f"`{module}.py`" in text, f"ARCHITECTURE.md does not place {module}.py"


MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 300


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_classes_stay_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: over {MAX_MODULE_LINES} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_CLASS_LINES, f"{path.name}: class {node.name} has {length} lines"
