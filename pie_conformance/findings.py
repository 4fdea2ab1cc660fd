"""Findings and reports: plain frozen dataclasses that reporters only read."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    """How bad a finding is: an error makes a script non-conformant, a warning does not."""

    ERROR = "error"
    WARNING = "warning"

    @classmethod
    def from_letter(cls, letter: str) -> Severity:
        """Map the catalogue's one-letter severity (E or W) to the enum."""
        return {"E": cls.ERROR, "W": cls.WARNING}[letter]


@dataclass(frozen=True)
class Problem:
    """What a rule function yields: the engine adds rule ID, severity and scenario.

    ``line`` is a line of the script's stdout, or, when ``path`` names a Python source file (``*.py``: the
    SRC rules, a crash located in the script), a line of that file.
    """

    message: str
    hint: str | None = None
    path: str | None = None
    epoch: int | None = None
    line: int | None = None


@dataclass(frozen=True)
class Finding:
    """One violation of one rule, located as precisely as the rule knows (``line``: see :class:`Problem`)."""

    rule: str
    severity: Severity
    message: str
    scenario: str | None = None
    epoch: int | None = None
    path: str | None = None
    hint: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        """Where the finding holds, in words: scenario, epoch, file, line (what is known of them).

        With a ``path`` to a ``.py`` file, ``line`` is a line of that file ("train.py:12"); else of stdout.
        """
        parts = []
        if self.scenario:
            parts.append(f"scenario {self.scenario}")
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch}")
        if self.path and self.line is not None and self.path.endswith(".py"):
            parts.append(f"{self.path}:{self.line}")
            return ", ".join(parts)
        if self.path:
            parts.append(self.path)
        if self.line is not None:
            parts.append(f"stdout line {self.line}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The finding as CONTRACT section 4 spells it (plus the stdout line where known)."""
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "scenario": self.scenario,
            "epoch": self.epoch,
            "path": self.path,
            "hint": self.hint,
            "line": self.line,
        }


@dataclass(frozen=True)
class ScenarioResult:
    """What one scenario of a check did: its name, whether it ran, and a note when skipped."""

    name: str
    status: str = "ran"  # "ran" | "skipped"
    note: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a JSON-ready mapping."""
        return {"name": self.name, "status": self.status, "note": self.note, **dict(self.details)}


@dataclass(frozen=True)
class Report:
    """The outcome of one check: a validated file or a script run under one or more scenarios."""

    kind: str  # "traincfg" | "trainlog" | "run"
    subject: str  # the file or script that was checked
    findings: tuple[Finding, ...] = ()
    task: str | None = None
    scenarios: tuple[ScenarioResult, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def conformant(self) -> bool:
        """True when no finding is an error and no input problem kept part of the subject from the rules."""
        return not self.problems and not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def problems(self) -> tuple[Mapping[str, Any], ...]:
        """Input the rules could not judge (a file that is not JSON): ``{"path", "message"}`` each.

        Kept apart from rule violations, in ``extra["problems"]``; any of them makes a report not conformant.
        """
        return tuple(self.extra.get("problems", ()))

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings of severity error."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings of severity warning."""
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    def rule_ids(self, severity: Severity | None = None) -> set[str]:
        """The set of rule IDs found, optionally of one severity only."""
        return {f.rule for f in self.findings if severity is None or f.severity is severity}

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report of CONTRACT section 4."""
        return {
            "conformant": self.conformant,
            "kind": self.kind,
            "task": self.task,
            "script": self.subject,
            "scenarios": [s.to_dict() for s in self.scenarios],
            "findings": [f.to_dict() for f in self.findings],
            "timings": dict(self.timings),
            **dict(self.extra),
        }
