"""Offline validation of a traincfg or a trainlog: the API behind ``pie-check validate-cfg|validate-log``.

Both functions take a path (``str`` or ``os.PathLike``), the file's bytes, its text (a ``str`` whose first
non-blank character is ``{`` or ``[``; any other ``str`` is a path) or an already-parsed object, and return a
:class:`~pie_conformance.findings.Report`. Input that cannot be validated at all (a missing file, a file over
the size limit, a traincfg that is not JSON) raises :class:`~pie_conformance.errors.UsageError`; everything
else becomes findings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pie_conformance._jsonio import StrictJSONError, read_file, strict_loads
from pie_conformance.errors import UsageError
from pie_conformance.findings import Report

__all__ = ["combine_reports", "load_traincfg", "validate_traincfg", "validate_trainlog"]

_Input = Any  # a path, bytes, JSON text or a parsed object


def _resolve(source: _Input, what: str) -> tuple[bytes | None, Any, str]:
    """(bytes or None, parsed object when no bytes, subject) for any accepted input."""
    if isinstance(source, os.PathLike):
        path = os.fspath(source)
        return read_file(path, what), None, str(path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None, f"<{what} bytes>"
    if isinstance(source, str):
        if source.lstrip()[:1] in ("{", "["):
            return source.encode("utf-8", "surrogatepass"), None, f"<{what} text>"
        if not source:
            raise UsageError(f"no {what} given (an empty path)")
        return read_file(source, what), None, source
    return None, source, f"<{what} object>"


def _load_object(source: _Input, what: str) -> tuple[Any, str]:
    raw, obj, subject = _resolve(source, what)
    if raw is None:
        return obj, subject
    try:
        return strict_loads(raw), subject
    except StrictJSONError as exc:
        raise UsageError(f"{what} {subject} is not JSON: {exc}") from None


def load_traincfg(source: _Input) -> dict[str, Any]:
    """A traincfg as an object, for validating many trainlogs against it; UsageError when it is not one."""
    cfg, subject = _load_object(source, "traincfg")
    if not isinstance(cfg, dict):
        raise UsageError(f"traincfg {subject} is not a JSON object; see `pie-check validate-cfg`")
    return cfg


def combine_reports(
    kind: str, reports: list[Report], problems: list[dict[str, Any]] | None = None
) -> Report:
    """One report for several validated files: every finding (each names its file), a verdict per file.

    ``problems``: files that could not be validated at all (``{"path", "message"}``), which make the
    combined report not conformant. ``extra["files"]`` lists the verdict of each validated file.
    """
    findings = tuple(f for r in reports for f in r.findings)
    checked: list[str] = []
    for r in reports:
        checked += [rid for rid in r.extra.get("rules_checked", ()) if rid not in checked]
    files = [
        {"path": r.subject, "conformant": r.conformant, "errors": len(r.errors), "warnings": len(r.warnings)}
        for r in reports
    ]
    count = len(reports) + len(problems or ())
    extra: dict[str, Any] = {"rules_checked": tuple(checked), "files": files}
    if problems:
        extra["problems"] = list(problems)
    return Report(
        kind=kind,
        subject=f"{count} file{'s' * (count != 1)}",
        findings=findings,
        timings={"total": sum(r.timings.get("total", 0.0) for r in reports)},
        extra=extra,
    )


def validate_traincfg(source: _Input) -> Report:
    """Check a traincfg against CFG001-CFG006; a file that is not JSON at all is a UsageError."""
    from pie_conformance.rules import Phase, evaluate, rules_for

    started = time.perf_counter()
    cfg, subject = _load_object(source, "traincfg")
    rules = rules_for(Phase.CONFIG)
    findings = tuple(evaluate(rules, cfg))
    if not subject.startswith("<"):
        findings = tuple(replace(f, path=subject) for f in findings)
    return Report(
        kind="traincfg",
        subject=subject,
        findings=findings,
        timings={"total": time.perf_counter() - started},
        extra={"rules_checked": tuple(r.id for r in rules)},
    )


def validate_trainlog(source: _Input, traincfg: _Input | None = None, *, final: bool = False) -> Report:
    """Check a trainlog against LOG002-LOG010, with the traincfg's training_id and class_name when given.

    ``final=True`` says the run has ended, so ``end_time`` must be set (LOG005). A trainlog that is not
    strict JSON is a LOG002 finding; a traincfg that cannot be read or is not an object is a UsageError.
    """
    from pie_conformance.rules import Phase, rules_for
    from pie_conformance.trainlog import TrainlogChecker

    started = time.perf_counter()
    cfg: Mapping[str, Any] | None = None
    if traincfg is not None:
        cfg, cfg_subject = _load_object(traincfg, "traincfg")
        if not isinstance(cfg, dict):
            raise UsageError(f"traincfg {cfg_subject} is not a JSON object; see `pie-check validate-cfg`")
    raw, obj, subject = _resolve(source, "trainlog")
    rules = rules_for(Phase.LOG)  # an offline file: LOG001 ("exists when the line is read") needs a run
    path = subject if not subject.startswith("<") else "trainlog.json"
    checker = TrainlogChecker(cfg, path=path, rules=rules)
    # One streaming pass: memory near the file's size, however many entries it holds.
    if raw is not None:
        findings = checker.check_once(raw, final=final)
    else:
        findings = checker.check_object(obj, final=final)
    return Report(
        kind="trainlog",
        subject=subject,
        findings=tuple(findings),
        timings={"total": time.perf_counter() - started},
        extra={"rules_checked": tuple(r.id for r in rules)},
    )
