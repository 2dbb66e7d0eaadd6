"""``python -m scripts.schemathesis_oracle``: schemathesis as an independent oracle.

Without ``--faults`` it runs schemathesis against the faithful reference endpoint and exits 0
when every finding is on the allow-list, 1 when one is not (each is printed with its
request and the endpoint's answer), 2 when the oracle cannot run. With ``--faults`` it runs
against each faulty endpoint and reports which faults schemathesis notices (``--write-docs``
puts that table into ``docs/schemathesis-oracle.md``). ``nox -s oracle`` runs it from a
fresh clone; see that document for what is patched and why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.schemathesis_oracle.allowlist import AllowlistError, load_allowlist
from scripts.schemathesis_oracle.report import print_run, write_summary
from scripts.schemathesis_oracle.run import (
    OracleError,
    Settings,
    load_spec,
    run_oracle,
    schemathesis_version,
)
from scripts.schemathesis_oracle.spec import VARIANTS, SpecShapeError

DEFAULT_REPORT_DIR = Path("reports") / "schemathesis"  # under reports/, which git ignores


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.schemathesis_oracle")
    parser.add_argument("--examples", type=int, default=200, help="examples per phase (200)")
    parser.add_argument("--seed", type=int, default=1, help="schemathesis seed (1)")
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="seconds per schemathesis run (300)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        choices=VARIANTS,
        help="run only this spec variant (repeatable; default: both)",
    )
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    parser.add_argument(
        "--faults",
        nargs="*",
        metavar="FAULT",
        help="run against faulty endpoints (no names: every fault) and report what is caught",
    )
    parser.add_argument(
        "--write-docs", type=Path, help="with --faults: update the table in this Markdown file"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.examples < 1 or args.time_limit <= 0:
        print("error: --examples and --time-limit must be positive", file=sys.stderr)
        return 2
    settings = Settings(
        examples=args.examples,
        seed=args.seed,
        time_limit_s=args.time_limit,
        variants=tuple(args.variant or VARIANTS),
    )
    try:
        version = schemathesis_version()
        entries = load_allowlist()
        spec = load_spec()
        if args.faults is not None:
            from scripts.schemathesis_oracle.faults import sweep

            return sweep(spec, settings, entries, args.faults, args.report_dir, args.write_docs)
        run = run_oracle(spec, settings, args.report_dir / "faithful")
    except (OracleError, AllowlistError, SpecShapeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The server has been stopped on the way out; reports so far are in --report-dir.
        print(f"interrupted; reports so far are in {args.report_dir}", file=sys.stderr)
        return 130
    clean = print_run(run, entries, settings, version)
    write_summary(run, entries, settings, version, args.report_dir)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
