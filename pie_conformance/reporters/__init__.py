"""Report writers: each format is its own module; they only read the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from pie_conformance.findings import Report

Writer = Callable[[Report, TextIO, bool], None]


def _text(report: Report, out: TextIO, colour: bool) -> None:
    from pie_conformance.reporters.text import write_text

    write_text(report, out, colour=colour)


def _json(report: Report, out: TextIO, colour: bool) -> None:
    from pie_conformance.reporters.json import write_json

    write_json(report, out)


def _junit(report: Report, out: TextIO, colour: bool) -> None:
    from pie_conformance.reporters.junit import write_junit

    write_junit(report, out)


#: The output formats of every ``--format`` option.
REPORTER_BY_NAME: dict[str, Writer] = {"text": _text, "json": _json, "junit": _junit}
