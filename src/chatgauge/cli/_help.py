"""Help texts every subcommand shares: its exit codes, and what to do with an unknown flag.

Each subcommand's ``--help`` ends with a table of its exit codes (:func:`exit_codes`, shown
as written by :class:`HelpFormatter`). An unknown flag is reported by the parser of the
subcommand it was given to, with that subcommand's usage and the closest known flag
(:func:`unknown_arguments`), not by the top-level parser.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping, Sequence
from typing import Final

EXIT_HEADING: Final = "exit codes:"

CHECK_EXIT_CODES: Final = {
    0: "passed: every planned check judged (or skipped as not applicable), none failed",
    1: "failed: a check failed",
    2: "usage error, or an endpoint that cannot be used (unreachable, unknown model, a base "
    "URL without its /v1)",
    4: "incomplete: no check failed, but a check could not be judged (budget, rate limit, "
    "timeout, deadline)",
    130: "interrupted (the reports so far are written)",
}


SERVE_EXIT_CODES: Final = {
    0: "stopped with Ctrl-C, or --list-faults printed",
    2: "usage error (a bad flag value, a port in use)",
}
LOAD_EXIT_CODES: Final = {
    0: "the run completed, within its error budget, and met every --slo given",
    1: "the load generator failed",
    2: "usage error, or an endpoint that cannot be used (preflight)",
    3: "the run failed: an --slo missed, the error budget (--max-error-rate) exceeded, or "
    "the endpoint down (--abort-after)",
    130: "interrupted (the results so far are written)",
}
DEMO_EXIT_CODES: Final = {
    0: "every step passed",
    1: "the conformance run failed a check, or the load step failed",
    2: "the reference endpoint could not be started",
    3: "the load step failed (its SLO missed, its error budget exceeded or the endpoint down)",
    4: "the conformance run was incomplete",
    130: "interrupted",
}
REPORT_EXIT_CODES: Final = {
    0: "the page or schema was written",
    1: "report compare --fail-on-regression: a run regressed against the baseline",
    2: "usage error: a file missing, not a result, of another kind or schema version",
}


def exit_codes(codes: Mapping[int, str]) -> str:
    """The epilog listing ``codes`` (kept as written by :class:`HelpFormatter`)."""
    width = max(len(str(code)) for code in codes)
    return "\n".join(
        [EXIT_HEADING, *(f"  {code:<{width}}  {text}" for code, text in codes.items())]
    )


class HelpFormatter(argparse.HelpFormatter):
    """The default formatter, but an exit-code epilog keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXIT_HEADING):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def chosen_parser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The (sub)parser that ``argv`` selects: follows subcommand names through ``parser``."""
    current = parser
    for token in argv:
        subparsers = [
            action
            for action in current._actions  # argparse keeps its actions private
            if isinstance(action, argparse._SubParsersAction)
        ]
        if not subparsers:
            break
        choices = subparsers[0].choices
        if token in choices:
            current = choices[token]
    return current


def unknown_arguments(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """The error for arguments ``parser`` does not know, with the closest known flag."""
    known = [s for action in parser._actions for s in action.option_strings]
    message = f"unrecognized arguments: {' '.join(extras)}"
    for extra in extras:
        if extra.startswith("-"):
            flag = extra.split("=", 1)[0]
            close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
            if close:
                return f"{message} (did you mean {close[0]}?)"
    return message


__all__ = [
    "CHECK_EXIT_CODES",
    "DEMO_EXIT_CODES",
    "LOAD_EXIT_CODES",
    "REPORT_EXIT_CODES",
    "SERVE_EXIT_CODES",
    "HelpFormatter",
    "chosen_parser",
    "exit_codes",
    "unknown_arguments",
]
