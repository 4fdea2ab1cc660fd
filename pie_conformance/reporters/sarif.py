"""SARIF 2.1.0: the static-analysis interchange format GitHub code scanning and other CI dashboards read.

One ``run`` per report: the tool's rules (the ones the subject was judged against), one ``result`` per finding
at its file and line where known (see :mod:`pie_conformance.reporters._location`), and the input problems as
tool-execution notifications. Run-only details (scenario, epoch, the file in the run folder, the stdout line,
the hint) ride in each result's ``properties``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from pie_conformance.findings import Finding, Report, Severity
from pie_conformance.reporters._location import display_path, locate

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "catalogue_sarif", "report_sarif", "write_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(path: str) -> str:
    # A relative path stays a relative URI reference (resolved against the repository by CI tools); an
    # absolute one outside the current folder becomes a file: URI.
    shown = display_path(path)
    if Path(shown).is_absolute():
        return Path(shown).as_uri()
    return quote(shown, safe="/")


def _level(severity: Severity | str) -> str:
    return "error" if Severity(severity) is Severity.ERROR else "warning"


def _rule_descriptor(rule_id: str) -> dict[str, Any]:
    from pie_conformance.rules import CATALOGUE_BY_ID

    severity, summary = CATALOGUE_BY_ID.get(rule_id, (Severity.ERROR, rule_id))
    return {
        "id": rule_id,
        "shortDescription": {"text": summary or rule_id},
        "defaultConfiguration": {"level": _level(severity)},
        "properties": {"family": rule_id[:3]},
    }


def _driver(rule_ids: Sequence[str]) -> dict[str, Any]:
    from pie_conformance import __version__

    return {
        "name": "pie-conformance",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [_rule_descriptor(rid) for rid in rule_ids],
    }


def _rule_ids(report: Report) -> list[str]:
    from pie_conformance.rules import CATALOGUE_BY_ID

    ids = list(report.extra.get("rules_checked", ()) or ())
    ids += [f.rule for f in report.findings if f.rule not in ids]
    order = {rid: i for i, rid in enumerate(CATALOGUE_BY_ID)}
    return sorted(dict.fromkeys(ids), key=lambda rid: (order.get(rid, len(order)), rid))


def _result(report: Report, finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    text = finding.message + (f"\nhint: {finding.hint}" if finding.hint else "")
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index[finding.rule],
        "level": _level(finding.severity),
        "message": {"text": text},
    }
    file, line = locate(report, finding)
    if file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file)}}
        if line is not None and line >= 1:
            physical["region"] = {"startLine": int(line)}
        result["locations"] = [{"physicalLocation": physical}]
    props = {
        "scenario": finding.scenario,
        "epoch": finding.epoch,
        "path": finding.path,
        "stdoutLine": finding.line if report.kind == "run" and not finding.rule.startswith("SRC") else None,
        "hint": finding.hint,
    }
    props = {k: v for k, v in props.items() if v is not None}
    if props:
        result["properties"] = props
    return result


def _notifications(problems: Iterable[Any]) -> list[dict[str, Any]]:
    notes = []
    for problem in problems:
        note: dict[str, Any] = {"level": "error", "message": {"text": str(problem.get("message", ""))}}
        path = problem.get("path")
        if path and path != "-":
            note["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": _uri(str(path))}}}]
        notes.append(note)
    return notes


def report_sarif(report: Report) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (a dict ready for ``json.dump``), script-controlled text escaped."""
    from pie_conformance._escape import visible_report

    report = visible_report(report)
    rule_ids = _rule_ids(report)
    index = {rid: i for i, rid in enumerate(rule_ids)}
    invocation: dict[str, Any] = {"executionSuccessful": not report.problems}
    notes = _notifications(report.problems)
    if notes:
        invocation["toolExecutionNotifications"] = notes
    run: dict[str, Any] = {
        "tool": {"driver": _driver(rule_ids)},
        "invocations": [invocation],
        "results": [_result(report, f, index) for f in report.findings],
        "properties": {
            "kind": report.kind,
            "subject": report.subject,
            "conformant": report.conformant,
            **({"task": report.task} if report.task else {}),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def catalogue_sarif() -> dict[str, Any]:
    """The rule catalogue as a SARIF log with no results (what ``pie-check rules --format sarif`` writes)."""
    from pie_conformance.rules import CATALOGUE_BY_ID

    run = {"tool": {"driver": _driver(list(CATALOGUE_BY_ID))}, "results": []}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def write_sarif(report: Report, out: TextIO, *, colour: bool = False) -> None:
    """Write the report as one SARIF 2.1.0 document."""
    json.dump(report_sarif(report), out, indent=2, ensure_ascii=False, allow_nan=False, default=str)
    out.write("\n")
