"""``pie-check validate-cfg FILE...`` and ``pie-check validate-log FILE... [--traincfg FILE]``.

Many files are checked in one process and written as one report whose findings each name their file (the
pre-commit hooks pass every staged file at once). A file that cannot be validated at all (missing, over the
size limit, a traincfg that is not JSON) is named on stderr and the exit status is 2; the report still covers
the other files.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pie_conformance.commands import add_report_options, emit_report
from pie_conformance.errors import UsageError

HELP = {
    "validate-cfg": "check traincfg.json files against the contract (CFG rules)",
    "validate-log": "check trainlog.json files against the contract (LOG rules)",
}


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``validate-cfg`` or ``validate-log`` (``name`` says which)."""
    what = "traincfg" if name == "validate-cfg" else "trainlog"
    parser.add_argument(
        "files", nargs="+", metavar="FILE",
        help=f"the {what} JSON files to check, all in one report ('-': standard input)",
    )
    if name == "validate-log":
        parser.add_argument(
            "--traincfg", metavar="FILE", help="the run's traincfg (its training_id and class names are used)"
        )
        parser.add_argument(
            "--final", action="store_true", help="the run has ended: end_time must be set (LOG005)"
        )
    add_report_options(parser)


def _source(file: str) -> object:
    if file == "-":
        from pie_conformance._jsonio import MAX_BYTES

        data = sys.stdin.buffer.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise UsageError(f"standard input is over the limit of {MAX_BYTES} bytes; it is not read")
        return data
    from pathlib import Path

    return Path(file)


def execute(args: argparse.Namespace) -> int:
    """Validate the files and write one report; 0 all conformant, 1 not, 2 a file could not be validated."""
    from pie_conformance.validate import combine_reports, load_traincfg, validate_traincfg, validate_trainlog

    files: list[str] = args.files
    if files.count("-") > 1:
        raise UsageError("standard input ('-') can be read only once")
    cfg: Any = None
    if args.command == "validate-log" and args.traincfg:
        if args.traincfg == "-" and "-" in files:
            raise UsageError("standard input ('-') can be read only once: not for --traincfg and a trainlog")
        cfg = load_traincfg(_source(args.traincfg))  # read once, a UsageError for every file alike

    def one(file: str) -> Any:
        if args.command == "validate-cfg":
            return validate_traincfg(_source(file))
        return validate_trainlog(_source(file), cfg, final=args.final)

    if len(files) == 1:
        return emit_report(one(files[0]), args)  # exactly the report of that file, as the API gives it
    reports, problems = [], []
    for file in files:
        try:
            reports.append(one(file))
        except UsageError as exc:
            sys.stderr.write(f"pie-check {args.command}: error: {exc}\n")
            problems.append({"path": file, "message": str(exc)})
    kind = "traincfg" if args.command == "validate-cfg" else "trainlog"
    status = emit_report(combine_reports(kind, reports, problems), args)
    return 2 if problems else status
