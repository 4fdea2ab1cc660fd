"""The machine-readable report of CONTRACT section 4."""

from __future__ import annotations

import json
from typing import TextIO

from pie_conformance.findings import Report


def write_json(report: Report, out: TextIO) -> None:
    """Write the report as one JSON document."""
    json.dump(report.to_dict(), out, indent=2, ensure_ascii=False, allow_nan=False, default=str)
    out.write("\n")
