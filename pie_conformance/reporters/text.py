"""The human report: a one-line verdict, then findings grouped by rule with where and how to fix."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TextIO

from pie_conformance._escape import indent_lines, visible
from pie_conformance.findings import Finding, Report, ScenarioResult, Severity
from pie_conformance.rules import CATALOGUE_BY_ID

_RED, _YELLOW, _GREEN = "\033[31m", "\033[33m", "\033[32m"
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def _scenario_summary(s: ScenarioResult) -> str:
    if s.status != "ran":
        return visible(s.status, one_line=True) + (f" ({visible(s.note, one_line=True)})" if s.note else "")
    d = s.details
    parts = ["ran"]
    if "progress_lines" in d:
        n = d["progress_lines"]
        parts.append(f"{n} progress line{'s' * (n != 1)}")
    if d.get("stopped_by_kit"):
        parts.append("stopped by the kit once it had started (as planned)")
    elif d.get("timed_out"):
        parts.append("stopped at the time limit")
    elif d.get("exit_status") is not None:
        parts.append(f"exit status {d['exit_status']}")
    if isinstance(d.get("script_seconds"), (int, float)):
        parts.append(f"{d['script_seconds']:.1f}s")
    return ", ".join(parts) + (f" ({visible(s.note, one_line=True)})" if s.note else "")


def verdict_line(report: Report) -> str:
    """One line a person reads first: conformant or not, and how many errors and warnings."""
    n_err, n_warn = len(report.errors), len(report.warnings)
    what = {"traincfg": "traincfg", "trainlog": "trainlog"}.get(report.kind, "script")
    state = "CONFORMANT" if report.conformant else "NOT CONFORMANT"
    counts = f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"
    task = f" [{visible(report.task, one_line=True)}]" if report.task else ""
    return f"{state}: {what} {visible(report.subject, one_line=True)}{task}: {counts}"


def write_text(report: Report, out: TextIO, *, colour: bool = False) -> None:
    """Write the report for a person; ANSI colour only when ``colour`` (a terminal).

    Every piece of text that may come from the script (messages, paths, notes) is shown through
    :func:`~pie_conformance._escape.visible`: no control character of its own reaches the terminal, and a
    quoted line that runs over several lines is indented under its item.
    """

    def paint(code: str, s: str) -> str:
        return f"{code}{s}{_RESET}" if colour else s

    head = verdict_line(report)
    out.write(paint(_BOLD + (_GREEN if report.conformant else _RED), head) + "\n")
    for s in report.scenarios:
        out.write(f"  scenario {visible(s.name, one_line=True)}: {_scenario_summary(s)}\n")
    for entry in report.extra.get("files", ()):  # several files validated in one call
        n_err, n_warn = entry["errors"], entry["warnings"]
        state = "conformant" if entry["conformant"] else "NOT conformant"
        path = visible(str(entry["path"]), one_line=True)
        out.write(f"  {path}: {state} ({n_err} error{'s' * (n_err != 1)}, "
                  f"{n_warn} warning{'s' * (n_warn != 1)})\n")
    for problem in report.problems:
        line = f"  {problem.get('path')}: not checked: {problem.get('message')}"
        out.write(paint(_RED, visible(line, one_line=True)) + "\n")
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_rule[f.rule].append(f)
    # Errors before warnings, then catalogue order, so the first thing read is the first thing to fix.
    order = {rid: i for i, rid in enumerate(CATALOGUE_BY_ID)}
    def rank(rid: str) -> tuple[bool, int]:
        return (by_rule[rid][0].severity is not Severity.ERROR, order.get(rid, len(order)))

    for rid in sorted(by_rule, key=rank):
        group = by_rule[rid]
        sev = group[0].severity
        shown_rid = visible(rid, one_line=True)
        label = paint(_RED if sev is Severity.ERROR else _YELLOW, f"{shown_rid} {sev.value}")
        summary = CATALOGUE_BY_ID.get(rid, (sev, ""))[1]
        out.write(f"\n{label}: {summary}\n")
        hints: list[str] = []
        for f in group:
            where = visible(f.where, one_line=True)
            message = indent_lines(visible(f.message), "    ")
            out.write(f"  - {message}" + (paint(_DIM, f"  [{where}]") if where else "") + "\n")
            if f.hint and f.hint not in hints:
                hints.append(f.hint)
        for h in hints:
            out.write(f"    hint: {indent_lines(visible(h), '      ')}\n")
    sandbox = report.extra.get("sandbox")
    if isinstance(sandbox, Mapping) and sandbox.get("summary"):
        out.write(paint(_DIM, f"\n{visible(sandbox['summary'], one_line=True)}") + "\n")
    if report.timings:
        shown = ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items())
        out.write(paint(_DIM, f"\ntimings: {shown}") + "\n")
