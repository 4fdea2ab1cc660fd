"""JUnit XML: one test case per rule that applied, failed by its errors, so CI systems can show them.

Every string passes through :func:`~pie_conformance._escape.visible` before it reaches the tree: the
characters XML 1.0 forbids (most C0 controls, lone surrogates, U+FFFE/U+FFFF) are shown as escapes, so the
document is well-formed whatever the script printed or named its files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import TextIO

from pie_conformance._escape import visible
from pie_conformance.findings import Finding, Report, Severity
from pie_conformance.rules import CATALOGUE_BY_ID


def _describe(f: Finding) -> str:
    where = visible(f.where, one_line=True)
    text = visible(f.message) + (f" ({where})" if where else "")
    return text + (f"\nhint: {visible(f.hint)}" if f.hint else "")


def write_junit(report: Report, out: TextIO, *, colour: bool = False) -> None:
    """Write a JUnit XML document: a test suite per report, a test case per rule ID.

    Input problems (a file that could not be validated) are one more test case, in error.
    """
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_rule[f.rule].append(f)
    checked = report.extra.get("rules_checked")
    rule_ids = list(checked) if checked else sorted(by_rule)
    for rid in by_rule:
        if rid not in rule_ids:
            rule_ids.append(rid)
    suite = ET.Element(
        "testsuite",
        name=visible(f"pie-conformance {report.kind}", one_line=True),
        tests=str(len(rule_ids)),
        failures=str(sum(1 for r in rule_ids if any(f.severity is Severity.ERROR for f in by_rule[r]))),
        errors=str(1 if report.problems else 0),
        time=f"{report.timings.get('total', 0.0):.3f}",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="subject", value=visible(report.subject, one_line=True))
    if report.task:
        ET.SubElement(props, "property", name="task", value=visible(report.task, one_line=True))
    for rid in rule_ids:
        severity, summary = CATALOGUE_BY_ID.get(rid, (None, ""))
        # The rule ID is the case's name, so dashboards track a rule across runs; the summary a property.
        case = ET.SubElement(suite, "testcase", classname=visible(f"pie.{report.kind}", one_line=True),
                             name=visible(rid, one_line=True))
        case_props = ET.SubElement(case, "properties")
        ET.SubElement(case_props, "property", name="summary", value=visible(summary, one_line=True))
        if severity is not None:
            ET.SubElement(case_props, "property", name="severity", value=severity.value)
        errors = [f for f in by_rule[rid] if f.severity is Severity.ERROR]
        warnings = [f for f in by_rule[rid] if f.severity is Severity.WARNING]
        if errors:
            fail = ET.SubElement(case, "failure", message=visible(errors[0].message, one_line=True),
                                 type=visible(rid, one_line=True))
            fail.text = "\n\n".join(_describe(f) for f in errors)
        if warnings:
            sysout = ET.SubElement(case, "system-out")
            sysout.text = "\n\n".join("warning: " + _describe(f) for f in warnings)
    if report.problems:
        tests = int(suite.get("tests", "0")) + 1
        suite.set("tests", str(tests))
        case = ET.SubElement(suite, "testcase", classname=f"pie.{report.kind}", name="input files")
        error = ET.SubElement(case, "error", message="some input could not be checked", type="input")
        error.text = "\n".join(f"{p.get('path')}: {p.get('message')}" for p in report.problems)
    _write(suite, out)


def _write(suite: ET.Element, out: TextIO) -> None:
    ET.indent(suite)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(ET.tostring(suite, encoding="unicode"))
    out.write("\n")


def write_catalogue_junit(out: TextIO) -> None:
    """The rule catalogue as a JUnit suite of passed test cases, one per rule (``rules --format junit``)."""
    suite = ET.Element("testsuite", name="pie-conformance rules", tests=str(len(CATALOGUE_BY_ID)),
                       failures="0", errors="0", time="0.000")
    for rid, (severity, summary) in CATALOGUE_BY_ID.items():
        case = ET.SubElement(suite, "testcase", classname=f"pie.rules.{rid[:3]}", name=rid)
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="summary", value=summary)
        ET.SubElement(props, "property", name="severity", value=severity.value)
    _write(suite, out)
