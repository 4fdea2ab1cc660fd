"""The machine-readable report of CONTRACT section 4.

Strings are passed through :func:`~pie_conformance._escape.visible_data`: a file name that is not UTF-8 or a
control character the script printed is shown as an escape (``\\xff``, ``\\x1b``), so the document is
valid UTF-8 JSON and a consumer that prints a field prints no terminal control of the script's.
"""

from __future__ import annotations

import json
from typing import TextIO

from pie_conformance._escape import visible_data
from pie_conformance.findings import Report


def write_json(report: Report, out: TextIO) -> None:
    """Write the report as one JSON document."""
    data = visible_data(report.to_dict())
    json.dump(data, out, indent=2, ensure_ascii=False, allow_nan=False,
              default=lambda o: visible_data(str(o)))
    out.write("\n")
