"""``pie-check lint PATH``: the SRC rules alone, read from the script's sources without running them.

Exit status: 0 when there is no finding and every file parses, 1 otherwise, 2 on a usage error (no such
path, no ``.py`` file in it). Every SRC finding is a warning, so unlike ``validate-cfg``/``validate-log``
(whose exit status is the verdict: warnings alone exit 0), ``lint`` fails on warnings, as linters do: its
findings are all it has to say. Only the standard library and the SRC rules are imported (no numpy, torch
or moto), so it answers in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TextIO

from pie_conformance.errors import UsageError
from pie_conformance.findings import Report

HELP = "read a train.py's folder without running it and predict what will fail (SRC rules)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check lint``."""
    parser.add_argument("path", metavar="PATH", help="the train.py to read, or the folder that holds it")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="report format (default: text)"
    )


def build_report(path: str) -> Report:
    """Read the sources at ``path`` and run the SRC rules on them (``UsageError`` for a bad path)."""
    from pie_conformance.rules.src import check_sources, src_rule_ids
    from pie_conformance.sources import read_sources

    start = time.perf_counter()
    try:
        tree = read_sources(path)
    except FileNotFoundError:
        raise UsageError(f"no such file or folder: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not tree.files:
        raise UsageError(f"no .py file to read in {path}")
    findings = tuple(check_sources(tree))
    notes = tree.notes()
    if tree.entry_file is None:
        notes.insert(0, f"{tree.entry}: not in the folder; the platform runs `python {tree.entry}`")
    extra = {
        "rules_checked": list(src_rule_ids()),
        "files_read": len(tree.files),
        "notes": notes,
        "unparsed": [
            {"path": f.path, "line": f.error.line, "message": f.error.message, "hint": f.error.hint}
            for f in tree.unparsed
            if f.error is not None
        ],
        "skipped": [{"path": s.path, "reason": s.reason} for s in tree.skipped],
    }
    return Report(
        kind="source",
        subject=tree.root,
        findings=findings,
        timings={"lint": time.perf_counter() - start},
        extra=extra,
    )


def write_text(report: Report, out: TextIO) -> None:
    """One line per finding (``file:line: ID severity: message``) with its hint, then notes and a summary."""
    for f in report.findings:
        where = f"{f.path}:{f.line}" if f.path and f.line is not None else (f.path or report.subject)
        out.write(f"{where}: {f.rule} {f.severity.value}: {f.message}\n")
        if f.hint:
            out.write(f"    hint: {f.hint}\n")
    notes = report.extra.get("notes", [])
    for note in notes:
        out.write(f"note: {note}\n")
    n = len(report.findings)
    files = report.extra.get("files_read", 0)
    took = report.timings.get("lint", 0.0)
    counted = f"{n} warning{'s' * (n != 1)}" if n else "no finding"
    out.write(
        f"pie-check lint: {counted} in {files} file{'s' * (files != 1)} of {report.subject} ({took:.2f}s); "
        "predicted from the sources without running them (SRC rules never change the verdict of a run)\n"
    )


def execute(args: argparse.Namespace) -> int:
    """Lint the folder and write the report; 0 clean, 1 findings or files that do not parse."""
    report = build_report(args.path)
    if args.format == "json":
        json.dump(report.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        write_text(report, sys.stdout)
    sys.stdout.flush()
    return 1 if report.findings or report.extra.get("unparsed") else 0
