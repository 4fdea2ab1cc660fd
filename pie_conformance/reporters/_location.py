"""Where a finding lies in the user's repository, for the formats a CI shows beside the code.

A run's findings are about files the script wrote in its working directory (``output/trainlog.json``), which
are not in the repository: they are shown at the script itself. A finding read from the sources (the SRC
family) carries a source file and line; a validated file's findings are at that file.
"""

from __future__ import annotations

import os
from pathlib import Path

from pie_conformance.findings import Finding, Report

__all__ = ["Location", "display_path", "locate"]

Location = tuple[str | None, int | None]  # (file as the repository knows it, line from 1) when known

_SOURCE_FAMILIES = ("SRC",)


def display_path(path: str) -> str:
    """``path`` relative to the current folder when it lies inside it (CI tools want repository paths)."""
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return p.as_posix()
    return p.as_posix()


def _real(path: str | None) -> str | None:
    # "<traincfg bytes>", "<trainlog text>": an input with no file behind it.
    if not path or path.startswith("<"):
        return None
    return path


def locate(report: Report, finding: Finding) -> Location:
    """The file and line (each None when unknown) at which ``finding`` of ``report`` is best shown."""
    if report.kind == "run":
        script = _real(report.subject)
        if finding.rule.startswith(_SOURCE_FAMILIES) and finding.path:
            base = Path(script).parent if script else Path(".")
            source = finding.path if os.path.isabs(finding.path) else str(base / finding.path)
            return display_path(source), finding.line
        # The stdout line of a run is no line of any file; the script is where the fix goes.
        return (display_path(script) if script else None), None
    path = _real(finding.path) or _real(report.subject if "files" not in report.extra else None)
    line = finding.line if finding.rule.startswith(_SOURCE_FAMILIES) else None
    return (display_path(path) if path else None), line
