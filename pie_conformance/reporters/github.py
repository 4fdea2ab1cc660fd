"""GitHub Actions workflow commands: an ``::error`` or ``::warning`` annotation per finding, at its file.

GitHub shows each annotation on the pull request beside the file (and line, where known), and in the run's
summary. Values are escaped as the Actions toolkit escapes them: ``%``, CR and LF in the message; also ``:``
and ``,`` in a property (``file=``, ``title=``), where they would end the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from pie_conformance.findings import Finding, Report, Severity
from pie_conformance.reporters._location import display_path, locate

__all__ = ["annotation", "escape_data", "escape_property", "write_github"]


def escape_data(text: str) -> str:
    """The message part of a workflow command (after ``::``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value of a workflow command (``file=...``, ``title=...``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, file: str | None = None, line: int | None = None,
               title: str | None = None) -> str:
    """One workflow command line, e.g. ``::error file=a.json,title=CFG006::expected ...``."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
        if line is not None:
            props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level}" + (" " + ",".join(props) if props else "")
    return f"{head}::{escape_data(message)}"


def _message(finding: Finding, file: str | None) -> str:
    # The annotation sits at ``file`` already; say the rest of where (scenario, epoch, run file, stdout line).
    parts = [f"scenario {finding.scenario}"] if finding.scenario else []
    parts += [f"epoch {finding.epoch}"] if finding.epoch is not None else []
    if finding.path and (file is None or not file.endswith(Path(finding.path).as_posix())):
        parts.append(finding.path)
    if finding.line is not None and not finding.rule.startswith("SRC"):
        parts.append(f"stdout line {finding.line}")
    text = f"{finding.rule}: {finding.message}" + (f" [{', '.join(parts)}]" if parts else "")
    return text + (f"\nhint: {finding.hint}" if finding.hint else "")


def write_github(report: Report, out: TextIO, *, colour: bool = False) -> None:
    """Write one annotation per finding and input problem, then the verdict as a plain line."""
    from pie_conformance._escape import visible_report

    report = visible_report(report)
    from pie_conformance.reporters.text import verdict_line
    from pie_conformance.rules import CATALOGUE_BY_ID

    for problem in report.problems:
        path = problem.get("path")
        out.write(annotation("error", str(problem.get("message", "")),
                             file=display_path(str(path)) if path and path != "-" else None,
                             title="pie-check: cannot check this file") + "\n")
    for f in report.findings:
        file, line = locate(report, f)
        summary = CATALOGUE_BY_ID.get(f.rule, (f.severity, ""))[1]
        out.write(annotation("error" if f.severity is Severity.ERROR else "warning", _message(f, file),
                             file=file, line=line, title=f"{f.rule} {summary}".strip()) + "\n")
    out.write(verdict_line(report) + "\n")
