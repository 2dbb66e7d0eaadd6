"""``chatgauge report``: render saved results again, compare runs, build a compatibility matrix.

- ``report html RESULT.json [--out FILE]``: the page of one saved ``conformance.json`` or
  ``load.json`` (default output: the result's path with ``.html``).
- ``report compare A.json B.json [...] [--out FILE] [--threshold 0.05]
  [--fail-on-regression]``: load runs or conformance runs side by side against the first;
  prints a short summary; exit 1 with ``--fail-on-regression`` when anything regressed.
- ``report matrix RUN.json ... [--out FILE]``: conformance runs as endpoints x checks.
- ``report schema [KIND]``: print the JSON Schema shipped for a kind of result document
  (``conformance``, and every other registered kind); without a kind, list the kinds.

A file that is missing, not JSON, not a chatgauge result, of another schema version or with
a field of the wrong shape is a usage error: one line naming the file and the field, exit 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from chatgauge.cli._errors import UsageError
from chatgauge.cli._help import REPORT_EXIT_CODES, HelpFormatter, exit_codes
from chatgauge.reports._compare import (
    DEFAULT_THRESHOLD,
    Comparison,
    compare_conformance,
    compare_load,
    has_regression,
    render_compare_html,
    summary_text,
)
from chatgauge.reports._matrix import build_matrix, render_matrix_html
from chatgauge.reports._render import (
    CONFORMANCE,
    ResultError,
    read_result,
    render_result_html,
)
from chatgauge.results import write_atomic
from chatgauge.results._files import known_kinds
from chatgauge.results._schemas import shipped_schema_text

T = TypeVar("T")


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand and its three actions."""
    parser = subparsers.add_parser(
        "report",
        help="re-render, compare or tabulate saved results",
        description="Turn saved result files (conformance.json, load.json) into HTML pages.",
        epilog=exit_codes(REPORT_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(handler=lambda _args: _help(parser))
    actions = parser.add_subparsers(title="actions", metavar="ACTION")

    html = actions.add_parser(
        "html",
        help="render one saved result as its HTML page",
        description="Render a saved conformance.json or load.json as its HTML page.",
        epilog=exit_codes(REPORT_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    html.add_argument("result", type=Path, metavar="RESULT.json")
    html.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write (default: RESULT with .html)"
    )
    html.set_defaults(handler=run_html)

    compare = actions.add_parser(
        "compare",
        help="compare two or more runs of one kind against the first",
        description=(
            "Compare load runs (latency percentiles, throughput, goodput, error rate) or "
            "conformance runs (newly failing, fixed and changed checks) against the first "
            "file, the baseline. A load figure regresses when it is worse by more than the "
            "threshold (relative) and by more than an absolute floor (1 ms, 1 token/s, "
            "0.05 requests/s, 0.5 percentage points of error rate); a conformance run "
            "regresses when a check newly fails. Exit code: 0, or 1 with "
            "--fail-on-regression when something regressed; 2 on bad input."
        ),
        epilog=exit_codes(REPORT_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    compare.add_argument("results", type=Path, nargs="+", metavar="RESULT.json")
    compare.add_argument(
        "--out",
        type=Path,
        default=Path("compare.html"),
        metavar="FILE",
        help="where to write the page (default: %(default)s)",
    )
    compare.add_argument(
        "--threshold",
        type=_threshold,
        default=DEFAULT_THRESHOLD,
        metavar="FRACTION",
        help="relative change that counts as a load regression, e.g. 0.05 for 5%% "
        "(default: %(default)s)",
    )
    compare.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when any run regressed against the baseline (for CI)",
    )
    compare.set_defaults(handler=run_compare)

    matrix = actions.add_parser(
        "matrix",
        help="several endpoints' conformance runs as one endpoints x checks table",
        description="Tabulate conformance runs of several endpoints: checks x endpoints.",
        epilog=exit_codes(REPORT_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    matrix.add_argument("results", type=Path, nargs="+", metavar="RUN.json")
    matrix.add_argument(
        "--out",
        type=Path,
        default=Path("matrix.html"),
        metavar="FILE",
        help="where to write the page (default: %(default)s)",
    )
    matrix.set_defaults(handler=run_matrix)

    kinds = sorted(known_kinds())
    schema = actions.add_parser(
        "schema",
        help="print the JSON Schema of a result document",
        description=(
            "Print the JSON Schema (draft 2020-12) that chatgauge's result documents of a "
            f"kind follow ({', '.join(kinds)}); without a kind, list the kinds and their "
            "schema versions."
        ),
        epilog=exit_codes(REPORT_EXIT_CODES),
        formatter_class=HelpFormatter,
    )
    schema.add_argument("kind", nargs="?", choices=kinds, metavar="KIND")
    schema.set_defaults(handler=run_schema)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 10:
        raise argparse.ArgumentTypeError(f"must be a fraction above 0 (0.05 = 5%), got {text}")
    return value


def run_schema(args: argparse.Namespace) -> int:
    """Handle ``chatgauge report schema``: the shipped schema, or the list of kinds."""
    if args.kind is None:
        for kind, (version, _) in sorted(known_kinds().items()):
            print(f"{kind}  (schema_version {version})")
        return 0
    print(shipped_schema_text(args.kind), end="")
    return 0


def run_html(args: argparse.Namespace) -> int:
    """Handle ``chatgauge report html``."""
    kind, document = _read(args.result)
    out: Path = args.out or args.result.with_suffix(".html")
    if out.resolve() == args.result.resolve():
        raise UsageError(f"--out {out} would overwrite the result itself")
    _write(out, _guarded([args.result], lambda: render_result_html(kind, document)))
    print(f"{kind} report: {out}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Handle ``chatgauge report compare``; exit 1 only with ``--fail-on-regression``."""
    paths: list[Path] = args.results
    if len(paths) < 2:
        raise UsageError("compare needs at least two result files (the first is the baseline)")
    kind, runs = _read_same_kind(paths)
    comparison: Comparison = _guarded(
        paths,
        lambda: (
            compare_conformance(runs)
            if kind == CONFORMANCE
            else compare_load(runs, threshold=args.threshold)
        ),
    )
    _write(args.out, _guarded(paths, lambda: render_compare_html(comparison)))
    print(summary_text(comparison))
    print(f"comparison: {args.out}")
    return 1 if args.fail_on_regression and has_regression(comparison) else 0


def run_matrix(args: argparse.Namespace) -> int:
    """Handle ``chatgauge report matrix``."""
    kind, runs = _read_same_kind(args.results)
    if kind != CONFORMANCE:
        raise UsageError("matrix takes conformance results (conformance.json), not load results")
    matrix = _guarded(args.results, lambda: build_matrix(runs))
    _write(args.out, _guarded(args.results, lambda: render_matrix_html(matrix)))
    failing = sum(1 for column in matrix.columns if column.summary["failed"])
    print(
        f"{len(matrix.columns)} endpoints x {matrix.check_count} checks; "
        f"{failing} endpoints failed a check"
    )
    print(f"matrix: {args.out}")
    return 0


def _guarded(paths: Sequence[Path], step: Callable[[], T]) -> T:
    """Run ``step``; a result whose sections have the wrong shape becomes a usage error.

    The result files are user input: a hand-edited or truncated one must end in one line,
    not a traceback.
    """
    try:
        return step()
    except (TypeError, ValueError, AttributeError, KeyError, jinja2.UndefinedError) as exc:
        raise UsageError(
            f"{', '.join(map(str, paths))}: malformed result ({type(exc).__name__}: {exc})"
        ) from None


def _read(path: Path) -> tuple[str, Any]:
    try:
        return read_result(path)
    except ResultError as exc:
        raise UsageError(str(exc)) from None


def _read_same_kind(paths: Sequence[Path]) -> tuple[str, list[tuple[str, Any]]]:
    """The kind shared by every file and ``(label, document)`` per file."""
    read = [(path, *_read(path)) for path in paths]
    kinds = {kind for _, kind, _ in read}
    if len(kinds) > 1:
        listing = ", ".join(f"{path} is {kind}" for path, kind, _ in read)
        raise UsageError(f"cannot mix kinds of results: {listing}")
    labels = run_labels(paths)
    return read[0][1], [
        (label, document) for label, (_, _, document) in zip(labels, read, strict=True)
    ]


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Each file's path below the deepest directory all of them share.

    ``runs/a/load.json`` and ``runs/b/load.json`` become ``a/load.json`` and
    ``b/load.json``: short column headers that still tell the runs apart.
    """
    resolved = [path.resolve() for path in paths]
    base = Path(os.path.commonpath([path.parent for path in resolved]))
    return [str(path.relative_to(base)) for path in resolved]


def _write(path: Path, html: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, html.encode())
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


__all__ = ["register", "run_compare", "run_html", "run_matrix"]
