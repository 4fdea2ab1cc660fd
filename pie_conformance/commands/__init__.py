"""Subcommands of ``pie-check``, one module each, and the helpers they share."""

from __future__ import annotations

import argparse
import sys

from pie_conformance.errors import UsageError
from pie_conformance.findings import Report


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--format`` and ``--output``, shared by every command that produces a report."""
    from pie_conformance.reporters import REPORTER_BY_NAME

    parser.add_argument(
        "--format", choices=list(REPORTER_BY_NAME), default="text",
        help="report format: text, json (schemas/report.schema.json), junit, github (workflow annotations) "
        "or sarif (SARIF 2.1.0) (default: text)",
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")


def emit_report(report: Report, args: argparse.Namespace) -> int:
    """Write the report as asked and return the exit status it implies (0 conformant, 1 not)."""
    from pie_conformance.reporters import REPORTER_BY_NAME

    writer = REPORTER_BY_NAME[args.format]
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as out:
                writer(report, out, False)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {args.output}: {exc.strerror or exc}") from None
        if args.format != "text":
            from pie_conformance.reporters.text import verdict_line

            sys.stdout.write(verdict_line(report) + "\n")
    else:
        try:
            writer(report, sys.stdout, sys.stdout.isatty() and args.format == "text")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early (`... | head`); the verdict still decides the exit status.
            from pie_conformance.cli import _silence_stdout

            _silence_stdout()
    return 0 if report.conformant else 1
