"""Report writers: each format is its own module; they only read the report.

Every writer has the signature ``write(report, out, colour)``; the modules are imported when a format is
used, so that ``pie-check --help`` imports none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TextIO

from pie_conformance.findings import Report

Writer = Callable[[Report, TextIO, bool], None]


def _lazy(module: str, function: str) -> Writer:
    def write(report: Report, out: TextIO, colour: bool) -> None:
        getattr(importlib.import_module(module), function)(report, out, colour=colour)

    write.__doc__ = f"Write the report with :func:`{module}.{function}`."
    return write


#: The output formats of every ``--format`` option of a command that reports.
REPORTER_BY_NAME: dict[str, Writer] = {
    "text": _lazy("pie_conformance.reporters.text", "write_text"),
    "json": _lazy("pie_conformance.reporters.json", "write_json"),
    "junit": _lazy("pie_conformance.reporters.junit", "write_junit"),
    "github": _lazy("pie_conformance.reporters.github", "write_github"),
    "sarif": _lazy("pie_conformance.reporters.sarif", "write_sarif"),
}
