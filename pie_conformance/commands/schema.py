"""``pie-check schema traincfg|trainlog|report``: print a shipped JSON Schema."""

from __future__ import annotations

import argparse
import sys

HELP = "print the JSON Schema of traincfg, trainlog, or the JSON report (report)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check schema``."""
    parser.add_argument("name", choices=("traincfg", "trainlog", "report"), help="which schema")


def execute(args: argparse.Namespace) -> int:
    """Write the schema to standard output, as shipped."""
    from pie_conformance.schemas import schema_text

    sys.stdout.write(schema_text(args.name))
    return 0
