"""The rule registry: every check is a small function registered under its CONTRACT.md ID.

A rule function takes the context of its family (a parsed traincfg, a trainlog, a progress-time
snapshot, a finished run) and *yields* :class:`~pie_conformance.findings.Problem` objects; it never
asserts. :func:`evaluate` turns problems into :class:`~pie_conformance.findings.Finding` objects,
adding the rule ID, its severity and the scenario. An ID that is not in the catalogue, or one
registered twice, is refused when the module defining it is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pie_conformance.findings import Finding, Problem, Severity
from pie_conformance.rules._catalogue import CATALOGUE

__all__ = [
    "CATALOGUE_BY_ID",
    "Rule",
    "RuleCheck",
    "RuleRegistrationError",
    "all_rules",
    "evaluate",
    "get_rule",
    "rule",
]

RuleCheck = Callable[[Any], Iterable[Problem]]
F = TypeVar("F", bound=RuleCheck)

#: ID -> (severity, summary), in CONTRACT order.
CATALOGUE_BY_ID: dict[str, tuple[Severity, str]] = {
    rid: (Severity.from_letter(sev), summary) for rid, sev, summary in CATALOGUE
}
_ORDER = {rid: i for i, (rid, _, _) in enumerate(CATALOGUE)}


class RuleRegistrationError(RuntimeError):
    """A rule was registered under an unknown ID, or an ID was registered twice."""


@dataclass(frozen=True)
class Rule:
    """A registered rule: its stable ID, severity, one-line summary and check function."""

    id: str
    severity: Severity
    summary: str
    check: RuleCheck

    @property
    def family(self) -> str:
        """The three-letter family of the ID (CFG, PRG, OUT, LOG, RUN, RES)."""
        return self.id[:3]


_REGISTRY: dict[str, Rule] = {}


def rule(rule_id: str) -> Callable[[F], F]:
    """Register the decorated function as the check of ``rule_id``; severity and summary: the catalogue's."""

    def decorate(fn: F) -> F:
        if rule_id not in CATALOGUE_BY_ID:
            raise RuleRegistrationError(f"{rule_id} is not a rule ID of CONTRACT.md; IDs are never invented")
        if rule_id in _REGISTRY:
            other = _REGISTRY[rule_id].check
            raise RuleRegistrationError(
                f"{rule_id} is registered twice: {other.__module__}.{other.__qualname__} "
                f"and {fn.__module__}.{fn.__qualname__}"
            )
        severity, summary = CATALOGUE_BY_ID[rule_id]
        _REGISTRY[rule_id] = Rule(rule_id, severity, summary, fn)
        return fn

    return decorate


_FAMILY_MODULES = ("cfg", "log", "prg", "out", "run", "res")


def _load_rule_modules(families: Iterable[str] = _FAMILY_MODULES) -> None:
    # Importing the family modules registers their rules; done lazily so that importing the
    # registry alone stays cheap and free of cycles. One family at a time where one is enough: the
    # validators (CFG, LOG) must work without numpy and Pillow, which the OUT rules import.
    import importlib

    for name in families:
        importlib.import_module(f"pie_conformance.rules.{name}")


def all_rules() -> list[Rule]:
    """Every registered rule, in catalogue order."""
    _load_rule_modules()
    return sorted(_REGISTRY.values(), key=lambda r: _ORDER[r.id])


def get_rule(rule_id: str) -> Rule:
    """The registered rule with this ID (KeyError naming it otherwise)."""
    family = rule_id[:3].lower()
    _load_rule_modules((family,) if family in _FAMILY_MODULES else _FAMILY_MODULES)
    try:
        return _REGISTRY[rule_id]
    except KeyError:
        raise KeyError(f"no rule registered under {rule_id!r}") from None


def evaluate(
    rule_ids: Iterable[str],
    context: Any,
    *,
    scenario: str | None = None,
    epoch: int | None = None,
) -> Iterator[Finding]:
    """Run the given rules on ``context`` and yield their findings, located by scenario and epoch."""
    for rid in rule_ids:
        r = get_rule(rid)
        for p in r.check(context):
            yield Finding(
                rule=r.id,
                severity=r.severity,
                message=p.message,
                scenario=scenario,
                epoch=p.epoch if p.epoch is not None else epoch,
                path=p.path,
                hint=p.hint,
                line=p.line,
            )
