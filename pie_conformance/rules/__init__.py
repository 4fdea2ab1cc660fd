"""The rule registry: every check is a small function registered under its contract ID.

A rule function takes the subject of its phase (a parsed traincfg, a piece of a trainlog, a progress-time
:class:`~pie_conformance.facts.ProgressContext`, a finished run's :class:`~pie_conformance.facts.RunRecord`,
the script's sources) and *yields* :class:`~pie_conformance.findings.Problem` objects; it never asserts.
:func:`evaluate` turns problems into :class:`~pie_conformance.findings.Finding` objects, adding the rule ID,
its severity, the scenario and the epoch.

A rule says where it applies when it registers: its phase, the tasks, the scenarios, and the option that
turns it on or off. :func:`rules_for` answers "which rules run here" for every caller (the harness, the
validators, the pytest plugin, the docs), so no other module keeps a list of rules. Adding a rule is a
catalogue row (:mod:`pie_conformance.rules._catalogue`), the function in its family's module, and its
example cases. An ID that is not in the catalogue, or one registered twice for the same subject, is refused
when the module defining it is imported.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pie_conformance.findings import Finding, Problem, Severity
from pie_conformance.rules._catalogue import CATALOGUE

__all__ = [
    "CATALOGUE_BY_ID",
    "RUN_SCENARIOS",
    "SCENARIO_KINDS",
    "Phase",
    "Rule",
    "RuleCheck",
    "RuleRegistrationError",
    "all_rules",
    "evaluate",
    "get_rule",
    "rule",
    "rules_for",
    "scenario_kind",
]

RuleCheck = Callable[[Any], Iterable[Problem]]
F = TypeVar("F", bound=RuleCheck)

#: ID -> (severity, summary), in catalogue order.
CATALOGUE_BY_ID: dict[str, tuple[Severity, str]] = {
    rid: (Severity.from_letter(sev), summary) for rid, sev, summary in CATALOGUE
}
_ORDER = {rid: i for i, (rid, _, _) in enumerate(CATALOGUE)}

#: The modules whose import registers the rules of one family each.
_FAMILY_MODULES = ("cfg", "log", "prg", "out", "run", "res", "src")


class Phase(str, enum.Enum):
    """When a rule judges, and so what its function receives."""

    CONFIG = "config"  # a traincfg (a mapping, or whatever JSON it holds)
    LOG = "log"  # a piece of a trainlog: the file, one epoch entry, or the document
    PROGRESS = "progress"  # the snapshot of output/ at a progress line (facts.ProgressContext)
    RUN = "run"  # a finished run (facts.RunRecord)
    SCENARIO = "scenario"  # a finished run with the errors the other rules found in it (facts.RunRecord)
    SOURCE = "source"  # the script's sources, read before it runs


#: Kinds of scenario: ``file`` is an offline validation of one file (validate-cfg, validate-log),
#: ``source`` the static pass over a script's sources, the rest are runs of the script.
SCENARIO_KINDS: tuple[str, ...] = ("file", "source", "baseline", "resume", "resume-partial", "explore")
#: The runs that judge a script's whole behaviour (the partial-checkpoint run only has to start).
RUN_SCENARIOS: tuple[str, ...] = ("baseline", "resume", "explore")

_DEFAULT_SCENARIOS: dict[Phase, tuple[str, ...]] = {
    Phase.CONFIG: ("file",),
    Phase.LOG: ("file", *RUN_SCENARIOS),
    Phase.PROGRESS: RUN_SCENARIOS,
    Phase.RUN: RUN_SCENARIOS,
    Phase.SCENARIO: RUN_SCENARIOS,
    Phase.SOURCE: ("source",),
}


def scenario_kind(name: str | None) -> str:
    """The kind of a scenario name: ``explore-3`` is an ``explore``; None is an offline ``file``."""
    if name is None:
        return "file"
    return "explore" if name.startswith("explore-") else name


class RuleRegistrationError(RuntimeError):
    """A rule was registered under an unknown ID, twice for one subject, or with conflicting scopes."""


@dataclass(frozen=True)
class Rule:
    """A registered rule: its stable ID, severity, summary, where it applies, and its check functions.

    ``checks`` maps the type of subject a function judges to the function; a rule with a single function
    for its phase's subject has it under ``object``. ``opt_in`` names the check option that must be on for
    the rule to be judged, ``opt_out`` one that switches it off; ``scope_note`` says why, in words.
    """

    id: str
    severity: Severity
    summary: str
    phase: Phase
    tasks: tuple[str, ...] | None = None  # None: every task
    scenarios: tuple[str, ...] = ()  # scenario kinds (SCENARIO_KINDS)
    opt_in: str | None = None
    opt_out: str | None = None
    scope_note: str | None = None
    checks: Mapping[type, RuleCheck] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The three-letter family of the ID (CFG, PRG, OUT, LOG, RUN, RES, SRC)."""
        return self.id[:3]

    @property
    def check(self) -> RuleCheck:
        """The rule's one check function (the first, for a rule that judges several kinds of subject)."""
        return next(iter(self.checks.values()))

    def not_applicable(self, *, task: str | None = None, scenario: str | None = None,
                       options: Iterable[str] = ()) -> str | None:
        """Why the rule is not judged for this task, scenario and set of options (None: it is)."""
        opts = frozenset(options)
        if task is not None and self.tasks is not None and task not in self.tasks:
            return f"{self.id} applies to {' and '.join(self.tasks)} only"
        if self.opt_in is not None and self.opt_in not in opts:
            return f"{self.id} is opt-in: {self.scope_note or self.opt_in}"
        if self.opt_out is not None and self.opt_out in opts:
            return f"{self.id} {self.scope_note or 'is switched off by ' + self.opt_out}"
        kind = scenario_kind(scenario)
        if kind not in self.scenarios:
            return f"{self.id} is not judged in scenario {scenario or kind!r}"
        return None

    def applies(self, *, task: str | None = None, scenario: str | None = None,
                options: Iterable[str] = ()) -> bool:
        """True when the rule is judged for this task, scenario and set of options."""
        return self.not_applicable(task=task, scenario=scenario, options=options) is None

    def problems(self, subject: object) -> Iterable[Problem]:
        """The problems the rule finds in ``subject`` (none when it has no check for its type)."""
        fn = self.checks.get(type(subject)) or self.checks.get(object)
        return fn(subject) if fn is not None else ()


_REGISTRY: dict[str, Rule] = {}


def rule(
    rule_id: str,
    *,
    phase: Phase,
    on: type | None = None,
    tasks: Iterable[str] | None = None,
    scenarios: Iterable[str] | None = None,
    opt_in: str | None = None,
    opt_out: str | None = None,
    scope_note: str | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as a check of ``rule_id``; severity and summary: the catalogue's.

    ``on`` is the type of subject the function judges, for a rule with several functions (a LOG rule that
    judges an epoch entry and the document); the first registration of an ID sets its scope and later ones
    may only repeat it. ``scenarios`` defaults to every scenario that judges ``phase``.
    """
    kinds = tuple(scenarios) if scenarios is not None else _DEFAULT_SCENARIOS[phase]
    unknown = [s for s in kinds if s not in SCENARIO_KINDS]
    if unknown:
        raise RuleRegistrationError(f"{rule_id}: unknown scenario kinds {unknown}; known: {SCENARIO_KINDS}")
    subject = on if on is not None else object
    task_names = tuple(tasks) if tasks is not None else None

    def decorate(fn: F) -> F:
        if rule_id not in CATALOGUE_BY_ID:
            raise RuleRegistrationError(
                f"{rule_id} is not a rule ID of the catalogue; IDs are never invented")
        severity, summary = CATALOGUE_BY_ID[rule_id]
        made = Rule(rule_id, severity, summary, phase, task_names, kinds, opt_in, opt_out, scope_note,
                    {subject: fn})
        known = _REGISTRY.get(rule_id)
        if known is None:
            _REGISTRY[rule_id] = made
            return fn
        if subject in known.checks or object in known.checks or subject is object:
            other = next(iter(known.checks.values()))
            raise RuleRegistrationError(
                f"{rule_id} is registered twice: {other.__module__}.{other.__qualname__} "
                f"and {fn.__module__}.{fn.__qualname__}"
            )
        if replace(made, checks={}) != replace(known, checks={}):
            raise RuleRegistrationError(
                f"{rule_id}: {fn.__qualname__} declares another scope than its first check")
        _REGISTRY[rule_id] = replace(known, checks={**known.checks, subject: fn})
        return fn

    return decorate


def _load_rule_modules() -> None:
    # Importing the family modules registers their rules; done on first use so that importing the
    # registry alone stays cheap.
    for name in _FAMILY_MODULES:
        importlib.import_module(f"pie_conformance.rules.{name}")


def all_rules() -> list[Rule]:
    """Every registered rule, in catalogue order."""
    _load_rule_modules()
    return sorted(_REGISTRY.values(), key=lambda r: _ORDER[r.id])


def get_rule(rule_id: str) -> Rule:
    """The registered rule with this ID (KeyError naming it otherwise)."""
    _load_rule_modules()
    try:
        return _REGISTRY[rule_id]
    except KeyError:
        raise KeyError(f"no rule registered under {rule_id!r}") from None


def rules_for(
    phase: Phase,
    *,
    task: str | None = None,
    scenario: str | None = None,
    options: Iterable[str] = (),
) -> tuple[Rule, ...]:
    """The rules of ``phase`` judged for this task, scenario (None: an offline file) and options."""
    opts = frozenset(options)
    return tuple(
        r for r in all_rules() if r.phase is phase and r.applies(task=task, scenario=scenario, options=opts)
    )


def evaluate(
    rules: Iterable[Rule | str],
    subject: object,
    *,
    scenario: str | None = None,
    epoch: int | None = None,
) -> Iterator[Finding]:
    """Run the given rules (or rule IDs) on ``subject`` and yield their findings, located by scenario and
    epoch (a problem's own epoch wins)."""
    for r in rules:
        if isinstance(r, str):
            r = get_rule(r)
        for p in r.problems(subject):
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
