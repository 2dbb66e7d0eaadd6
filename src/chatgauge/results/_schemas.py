"""The JSON Schemas of the result documents, shipped in the package and kept current.

Each schema is derived from the document's dataclass (see :mod:`chatgauge.results._codec`)
and committed under ``results/schemas/`` so users who parse results in CI have a contract
(``chatgauge report schema conformance``). ``python -m chatgauge.results._schemas --check``
fails when a shipped file differs from what the code derives; ``--write`` rewrites them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from typing import Any

from chatgauge.results._codec import json_schema
from chatgauge.results._files import known_kinds

SCHEMA_URL = "https://chatgauge.invalid/schemas/{kind}-v{version}.schema.json"


def schema_file_name(kind: str) -> str:
    """The shipped schema file of documents of ``kind``."""
    return f"{kind}.schema.json"


def derived_schema(kind: str) -> dict[str, Any]:
    """The schema the code derives for ``kind`` (``KeyError`` for an unknown kind)."""
    version, cls = known_kinds()[kind]
    return json_schema(
        cls,
        title=f"chatgauge {kind} result, schema version {version}",
        schema_id=SCHEMA_URL.format(kind=kind, version=version),
    )


def schema_text(schema: dict[str, Any]) -> str:
    """The canonical text of a schema file."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def shipped_schema_text(kind: str) -> str:
    """The text of the schema file shipped for ``kind``."""
    package = resources.files("chatgauge.results") / "schemas" / schema_file_name(kind)
    return package.read_text(encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """``--check`` (default) or ``--write`` the shipped schema files."""
    parser = argparse.ArgumentParser(prog="python -m chatgauge.results._schemas")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail on a stale file (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the shipped files")
    args = parser.parse_args(argv)
    folder = resources.files("chatgauge.results") / "schemas"
    stale = []
    for kind in sorted(known_kinds()):
        text = schema_text(derived_schema(kind))
        path = folder / schema_file_name(kind)
        if args.write:
            with resources.as_file(path) as real:
                real.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(schema_file_name(kind))
    if stale:
        print(f"stale result schemas: {', '.join(stale)} (run with --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
