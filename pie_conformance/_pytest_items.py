"""Test items of the pytest plugin: one item per rule and scenario of a checked script.

``--pie-script train.py`` collects ``train.py::<scenario>::<rule>`` items. The first item that runs starts
the one run of the script through the harness (:func:`pie_conformance.check_script`); every other item of
the script reads the same cached report. Each item then judges its own rule with :func:`judge`, a pure
function of the report, so the verdict of an item is the same whichever worker or order runs it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pie_conformance.findings import Finding, Report, Severity

if TYPE_CHECKING:
    from pie_conformance._pytest_options import PieSettings

#: Scenarios of a check when the harness does not say (it does: ``harness.scenarios.SCENARIOS``).
DEFAULT_SCENARIOS: tuple[str, ...] = ("baseline", "resume", "resume-partial")

#: How a user of the plugin turns on a check option a rule depends on.
_ASK_FOR: dict[str, str] = {
    "check_buffering": "ask for it with --pie-check-buffering (ini pie_check_buffering = true)",
}


class PieConformanceWarning(UserWarning):
    """A warning of the PIE-Engine contract found in a checked script (e.g. PRG005, OUT003)."""


class PieRuleFailure(Exception):
    """Raised by an item whose rule has findings that fail it; :meth:`PieRuleItem.repr_failure` formats it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class PieRunError(Exception):
    """The kit could not run the script at all (a usage or environment problem, or a bug of the kit)."""


@dataclass(frozen=True)
class Verdict:
    """What one item concludes from the report: ``passed``, ``failed``, ``warned`` or ``skipped``."""

    outcome: str
    findings: tuple[Finding, ...] = ()
    reason: str | None = None


def rule_ids_for(scenario: str) -> list[str]:
    """The rule IDs that get an item in ``scenario``: every rule that judges a run of that kind, in catalogue
    order (the registry says where each rule applies)."""
    from pie_conformance.rules import Phase, all_rules

    run_phases = (Phase.PROGRESS, Phase.LOG, Phase.RUN, Phase.SCENARIO)
    return [
        r.id for r in all_rules()
        if r.phase in run_phases and r.applies(scenario=scenario, options=(r.opt_in,) if r.opt_in else ())
    ]


def _registered_ids() -> set[str]:
    from pie_conformance.rules import all_rules

    return {r.id for r in all_rules()}


def _checked_ids(report: Report, scenario: str) -> set[str] | None:
    # The harness may say which rules it evaluated, overall or per scenario; None when it does not.
    for sr in report.scenarios:
        if sr.name == scenario and "rules_checked" in sr.details:
            return set(sr.details["rules_checked"])
    checked = report.extra.get("rules_checked")
    return set(checked) if checked is not None else None


def findings_of(report: Report, scenario: str, rule_id: str, first_scenario: str) -> tuple[Finding, ...]:
    """The findings of ``rule_id`` in ``scenario`` (one with no scenario counts for the first)."""
    return tuple(
        f for f in report.findings if f.rule == rule_id and (f.scenario or first_scenario) == scenario
    )


def judge(
    report: Report,
    scenario: str,
    rule_id: str,
    *,
    first_scenario: str,
    fail_on_warning: bool = False,
    registered: set[str] | None = None,
    gpu_num: int | None = None,
    check_buffering: bool = False,
) -> Verdict:
    """The verdict of item ``scenario::rule_id`` on ``report``: findings first, then applicability."""
    found = findings_of(report, scenario, rule_id, first_scenario)
    errors = tuple(f for f in found if f.severity is Severity.ERROR)
    if errors:
        return Verdict("failed", found)
    if found:
        return Verdict("failed" if fail_on_warning else "warned", found)
    # No finding: the item passes unless the rule was not actually judged in this scenario.
    result = next((s for s in report.scenarios if s.name == scenario), None)
    if result is None:
        return Verdict("skipped", reason=f"scenario {scenario!r} was not part of this check")
    if result.status != "ran":
        note = f": {result.note}" if result.note else ""
        return Verdict("skipped", reason=f"scenario {scenario!r} did not run{note}")
    registered = _registered_ids() if registered is None else registered
    if rule_id not in registered:
        return Verdict("skipped", reason=f"{rule_id} is not checked by this version of pie-conformance")
    from pie_conformance.rules import get_rule

    rule = get_rule(rule_id)
    options = {"check_buffering"} if check_buffering else set()
    if gpu_num:
        options.add("gpu")
    checked = _checked_ids(report, scenario)
    if checked is not None and rule_id in checked:  # the harness said what it judged: trust it
        return Verdict("passed")
    why = rule.not_applicable(task=report.task, scenario=scenario, options=options)
    if why is None and checked is not None:
        why = f"{rule_id} was not checked in scenario {scenario!r}"
    if why is None:
        return Verdict("passed")
    ask = _ASK_FOR.get(rule.opt_in or "") if rule.opt_in is not None and rule.opt_in not in options else None
    return Verdict("skipped", reason=f"{why}; {ask}" if ask else why)


def format_finding(f: Finding) -> str:
    """One finding as the few lines a failed item shows: rule, where, message, path and hint."""
    where = [f"scenario {f.scenario}" if f.scenario else None]
    where.append(f"epoch {f.epoch}" if f.epoch is not None else None)
    # With a .py path, line is a line of that file (SRC rules, a crash); otherwise a line of stdout.
    in_source = f.path is not None and f.path.endswith(".py") and f.line is not None
    where.append(f"stdout line {f.line}" if f.line is not None and not in_source else None)
    loc = ", ".join(w for w in where if w)
    lines = [f"{f.rule} {f.severity.value}{f' ({loc})' if loc else ''}: {f.message}"]
    if f.path:
        lines.append(f"    where: {f.path}" + (f":{f.line}" if in_source else ""))
    if f.hint:
        lines.append(f"    hint: {f.hint}")
    return "\n".join(lines)


def format_findings(findings: Sequence[Finding]) -> str:
    """Several findings, one block each."""
    return "\n".join(format_finding(f) for f in findings)


def _node_id(config: pytest.Config, path: Path) -> str:
    rel = os.path.relpath(path, config.rootpath)
    return rel.replace(os.sep, "/")


class PieScript(pytest.File):
    """The collector of one checked script; it holds the script's single, lazily started run."""

    settings: PieSettings
    scenarios: tuple[str, ...]

    def collect(self) -> Iterable[PieScenario]:
        """One child per scenario."""
        for name in self.scenarios:
            yield PieScenario.from_parent(self, name=name)

    def unclaimed(self) -> list[Finding]:
        """Findings of the script's run (if it ran here) that no collected item of the script reports."""
        report = getattr(self, "_pie_outcome", None)
        if not isinstance(report, Report):
            return []
        items = {(s, r) for s in self.scenarios for r in rule_ids_for(s)}
        first = self.scenarios[0]
        return [f for f in report.findings if ((f.scenario or first), f.rule) not in items]

    def outcome(self) -> Report:
        """The report of the script's one run, started by the first item that asks (cached, errors too)."""
        cached = getattr(self, "_pie_outcome", None)
        if cached is None:
            try:
                cached = run_check(self.path, self.settings, self.scenarios)
            except PieRunError as exc:
                cached = exc
            self._pie_outcome = cached
        if isinstance(cached, PieRunError):
            raise cached
        return cached


class PieScenario(pytest.Collector):
    """The items of one scenario of a checked script, one per rule."""

    def collect(self) -> Iterable[PieRuleItem]:
        """One item per rule ID a run is judged by."""
        for rid in rule_ids_for(self.name):
            yield PieRuleItem.from_parent(self, name=rid)


class PieRuleItem(pytest.Item):
    """``train.py::<scenario>::<rule>``: passes, fails with the rule's findings, or is skipped."""

    @property
    def script(self) -> PieScript:
        """The collector of the checked script."""
        parent = self.parent.parent if self.parent is not None else None
        assert isinstance(parent, PieScript)
        return parent

    def runtest(self) -> None:
        """Judge this item's rule on the script's shared report."""
        script = self.script
        scenario = self.parent.name if self.parent is not None else ""
        report = script.outcome()
        verdict = judge(
            report,
            scenario,
            self.name,
            first_scenario=script.scenarios[0],
            fail_on_warning=script.settings.fail_on_warning,
            gpu_num=script.settings.gpu_num,
            check_buffering=script.settings.check_buffering,
        )
        if verdict.outcome == "skipped":
            # Reported at the item (the script), as a @pytest.mark.skip would be, not at this line.
            raise pytest.skip.Exception(verdict.reason or "", _use_item_location=True)
        if verdict.outcome == "failed":
            raise PieRuleFailure(format_findings(verdict.findings))
        if verdict.outcome == "warned":
            # A passed item shows this section with -rP / -rA (and in JUnit XML as system-out).
            self.add_report_section("call", "pie-conformance", format_findings(verdict.findings))
            for f in verdict.findings:
                # warn_explicit points the warnings summary at the script, not at this plugin.
                warnings.warn_explicit(
                    PieConformanceWarning(format_finding(f)), PieConformanceWarning, str(script.path), 0
                )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        """The findings (or why the run failed), without a traceback into the plugin."""
        if isinstance(excinfo.value, PieRuleFailure):
            return excinfo.value.text
        if isinstance(excinfo.value, PieRunError):
            return str(excinfo.value)
        if isinstance(excinfo.value, PieConformanceWarning):  # a warning turned into an error by -W error
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the item points: the script, with ``scenario::rule`` as its label."""
        scenario = self.parent.name if self.parent is not None else ""
        return self.script.path, 0, f"{self.script.name}::{scenario}::{self.name}"


def run_check(path: Path, settings: PieSettings, scenarios: Sequence[str]) -> Report:
    """Run the script through the harness once, with the options given; kit problems become PieRunError."""
    from pie_conformance.errors import UsageError

    try:
        from pie_conformance import check_script
    except ImportError as exc:
        raise PieRunError(
            f"pie-conformance cannot run scripts: the harness is not available ({exc})"
        ) from None
    kwargs: dict[str, Any] = {
        "task": settings.task, "scenarios": tuple(s for s in scenarios if not s.startswith("explore-")),
    }
    if settings.explore:
        kwargs.update(explore=settings.explore, seed=settings.seed or 0,
                      explore_budget=settings.explore_budget)
    if settings.check_buffering:
        kwargs["check_buffering"] = True
    for key in ("epochs", "images", "size", "gpu_num", "timeout"):
        value = getattr(settings, key)
        if value is not None:
            kwargs[key] = value
    try:
        from pie_conformance.harness.options import CheckOptions

        return check_script(str(path), CheckOptions(**kwargs))
    except UsageError as exc:
        raise PieRunError(f"pie-conformance could not run {path}: {exc}") from None
    except Exception as exc:  # a crash of the kit is a bug: one clear line, not a traceback into the plugin
        raise PieRunError(
            f"pie-conformance failed while checking {path}: {type(exc).__name__}: {exc}\n"
            "This is a bug in pie-conformance; please report it."
        ) from None


def collect_scripts(
    session: pytest.Session, settings: PieSettings, nodes: list[PieScript] | None = None
) -> Iterator[pytest.Item]:
    """The items of every ``--pie-script``, in the order given (a script given twice is collected once);
    the script collectors are appended to ``nodes``."""
    scenarios = settings.scenarios or default_scenarios()
    seen: set[Path] = set()
    for path in settings.scripts:
        if path in seen:
            continue
        seen.add(path)
        node = PieScript.from_parent(session, path=path, nodeid=_node_id(session.config, path))
        node.settings = settings
        explored = tuple(f"explore-{k}" for k in range(1, (settings.explore or 0) + 1))
        node.scenarios = tuple(scenarios) + explored
        if nodes is not None:
            nodes.append(node)
        # genitems reports the collection like pytest's own (counts, --collect-only, collection errors).
        yield from session.genitems(node)


def default_scenarios() -> tuple[str, ...]:
    """The scenarios the harness runs when none is asked for (all of them)."""
    try:
        from pie_conformance.harness.scenarios import SCENARIOS
    except ImportError:
        return DEFAULT_SCENARIOS
    return tuple(SCENARIOS)
