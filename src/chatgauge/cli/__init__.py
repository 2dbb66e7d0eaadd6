"""The ``chatgauge`` command line: one parser, one module per subcommand.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and sets
``handler`` (a callable taking the parsed namespace and returning an exit code). A user
error raises :class:`UsageError`: ``main`` prints one line and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from chatgauge._version import __version__
from chatgauge.cli import _check, _demo, _load, _report, _serve
from chatgauge.cli._errors import UsageError

_SUBCOMMANDS = (_serve, _check, _load, _demo, _report)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="chatgauge",
        description=(
            "Conformance checks and exact streaming load tests for OpenAI-compatible "
            "POST /v1/chat/completions endpoints."
        ),
    )
    parser.add_argument("--version", action="version", version=f"chatgauge {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except UsageError as exc:
        print(f"chatgauge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chatgauge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``chatgauge serve --list-faults | head``): not an error.
        # Point stdout at devnull so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


__all__ = ["UsageError", "build_parser", "main"]
