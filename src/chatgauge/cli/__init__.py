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
from chatgauge.cli._help import chosen_parser, unknown_arguments
from chatgauge.results import terminal_text

_SUBCOMMANDS = (_serve, _check, _load, _demo, _report)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="chatgauge",
        description=(
            "Conformance checks and exact streaming load tests for OpenAI-compatible "
            "POST /v1/chat/completions endpoints."
        ),
        epilog="Each command's --help lists its exit codes; 2 is always a usage error and "
        "130 an interrupted run.",
    )
    parser.add_argument("--version", action="version", version=f"chatgauge {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(given)
    if extras:
        # Reported by the subcommand that got them, with its usage and a suggestion.
        wrong = chosen_parser(parser, given)
        wrong.error(unknown_arguments(wrong, extras))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except UsageError as exc:
        # The message may quote the endpoint (a model name it serves): never raw escapes.
        print(f"chatgauge: error: {terminal_text(str(exc))}", file=sys.stderr)
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
