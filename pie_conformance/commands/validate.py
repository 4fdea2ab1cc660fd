"""``pie-check validate-cfg FILE`` and ``pie-check validate-log FILE [--traincfg FILE]``."""

from __future__ import annotations

import argparse
import sys

from pie_conformance.commands import add_report_options, emit_report

HELP = {
    "validate-cfg": "check a traincfg.json against the contract (CFG rules)",
    "validate-log": "check a trainlog.json against the contract (LOG rules)",
}


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``validate-cfg`` or ``validate-log`` (``name`` says which)."""
    what = "traincfg" if name == "validate-cfg" else "trainlog"
    parser.add_argument("file", metavar="FILE", help=f"the {what} JSON file to check ('-': standard input)")
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
        from pie_conformance.errors import UsageError

        data = sys.stdin.buffer.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise UsageError(f"standard input is over the limit of {MAX_BYTES} bytes; it is not read")
        return data
    from pathlib import Path

    return Path(file)


def execute(args: argparse.Namespace) -> int:
    """Validate the file and write the report; 0 conformant, 1 not."""
    from pie_conformance.validate import validate_traincfg, validate_trainlog

    if args.command == "validate-cfg":
        report = validate_traincfg(_source(args.file))
    else:
        cfg = _source(args.traincfg) if args.traincfg else None
        report = validate_trainlog(_source(args.file), cfg, final=args.final)
    return emit_report(report, args)
