"""The machine-readable report of CONTRACT section 4, with its ``report_version``.

Its shape is published as ``schemas/report.schema.json`` (``pie-check schema report``); the version changes
when a field is removed or changes meaning, never when one is added. Strings are passed through
:func:`~pie_conformance._escape.visible_data`: a file name that is not UTF-8 or a control character the script
printed is shown as an escape (``\\xff``, ``\\x1b``), so the document is valid UTF-8 JSON and a consumer that
prints a field prints no terminal control of the script's.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from pie_conformance._escape import visible_data
from pie_conformance.findings import Report

__all__ = ["REPORT_VERSION", "catalogue_dict", "report_dict", "write_json"]

#: The version of the JSON report format that ``schemas/report.schema.json`` describes.
REPORT_VERSION = 1


def report_dict(report: Report) -> dict[str, Any]:
    """The report as the JSON document ``--format json`` writes."""
    data: dict[str, Any] = visible_data({"report_version": REPORT_VERSION, **report.to_dict()})
    return data


def catalogue_dict() -> dict[str, Any]:
    """The rule catalogue as ``pie-check rules --format json`` writes it."""
    from pie_conformance.rules import CATALOGUE_BY_ID

    rows = [
        {"id": rid, "severity": severity.value, "summary": summary}
        for rid, (severity, summary) in CATALOGUE_BY_ID.items()
    ]
    return {"report_version": REPORT_VERSION, "kind": "rules", "rules": rows}


def write_json(report: Report, out: TextIO, *, colour: bool = False) -> None:
    """Write the report as one JSON document."""
    json.dump(report_dict(report), out, indent=2, ensure_ascii=False, allow_nan=False,
              default=lambda o: visible_data(str(o)))
    out.write("\n")
