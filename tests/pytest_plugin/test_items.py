"""Per-rule items of ``--pie-script``: verdicts, the one shared run, failure text, warnings, failing on them.

These tests put a recording stand-in for the harness in place of ``pie_conformance.check_script`` so that
every verdict path is exercised exactly and fast; ``test_scripts.py`` runs real scripts through the real
harness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

import pie_conformance
from pie_conformance import _pytest_items
from pie_conformance._pytest_items import Verdict, format_finding, judge, rule_ids_for
from pie_conformance.errors import UsageError
from pie_conformance.findings import Finding, Report, ScenarioResult
from pie_conformance.harness.options import CheckOptions
from pie_conformance.rules import CATALOGUE_BY_ID

pytest_plugins = ["pytester"]

ALL_BUT_SANDBOX = {rid for rid in CATALOGUE_BY_ID if rid not in ("RUN003", "RUN007")}
BOTH = (ScenarioResult("baseline"), ScenarioResult("resume"), ScenarioResult("resume-partial"))
N_ITEMS = sum(len(rule_ids_for(s.name)) for s in BOTH)


def _finding(rule: str, scenario: str | None = "baseline", **kw: Any) -> Finding:
    severity, _ = CATALOGUE_BY_ID[rule]
    return Finding(
        rule=rule, severity=severity, message=kw.pop("message", f"{rule} broken"), scenario=scenario, **kw
    )


def _report(*findings: Finding, scenarios: tuple[ScenarioResult, ...] = BOTH, **extra: Any) -> Report:
    return Report(
        kind="run",
        subject="train.py",
        task="segmentation",
        findings=findings,
        scenarios=scenarios,
        extra=extra,
    )


def _judge(report: Report, scenario: str, rule: str, **kw: Any) -> Verdict:
    kw.setdefault("registered", ALL_BUT_SANDBOX)
    return judge(report, scenario, rule, first_scenario="baseline", **kw)


def test_items_follow_what_each_scenario_judges() -> None:
    baseline, resume = rule_ids_for("baseline"), rule_ids_for("resume")
    assert {r[:3] for r in baseline} == {"PRG", "OUT", "LOG", "RUN"}
    assert set(resume) ^ set(baseline) == {"RES001", "RES002", "PRG006"}  # PRG006: the baseline's extra run
    assert rule_ids_for("resume-partial") == ["RES003"]
    assert baseline == sorted(baseline, key=list(CATALOGUE_BY_ID).index)  # catalogue order


def test_an_error_fails_only_its_rule_and_scenario() -> None:
    report = _report(_finding("PRG003", epoch=2))
    assert _judge(report, "baseline", "PRG003").outcome == "failed"
    assert _judge(report, "resume", "PRG003").outcome == "passed"
    assert _judge(report, "baseline", "PRG004").outcome == "passed"


def test_a_finding_without_scenario_counts_for_the_first_scenario() -> None:
    report = _report(_finding("RUN001", scenario=None))
    assert _judge(report, "baseline", "RUN001").outcome == "failed"
    assert _judge(report, "resume", "RUN001").outcome == "passed"


def test_warnings_warn_and_fail_on_warning_fails() -> None:
    report = _report(_finding("PRG005"))
    assert _judge(report, "baseline", "PRG005").outcome == "warned"
    assert _judge(report, "baseline", "PRG005", fail_on_warning=True).outcome == "failed"


def test_skips_say_why() -> None:
    skipped = (
        ScenarioResult("baseline"),
        ScenarioResult("resume", "skipped", "baseline produced no weights"),
    )
    report = _report(scenarios=skipped)
    v = _judge(report, "resume", "RES001")
    assert (v.outcome, v.reason) == ("skipped", "scenario 'resume' did not run: baseline produced no weights")
    v = _judge(_report(), "baseline", "RUN003")
    assert v.reason == "RUN003 is not checked by this version of pie-conformance"
    v = _judge(_report(), "baseline", "PRG006")
    assert v.outcome == "skipped" and v.reason is not None and v.reason.startswith("PRG006 is opt-in")
    assert _judge(_report(), "baseline", "PRG006", check_buffering=True).outcome == "passed"
    detection = Report(kind="run", subject="train.py", task="detection", scenarios=BOTH)
    assert (
        _judge(detection, "baseline", "OUT007").reason
        == "OUT007 applies to segmentation and change_detection only"
    )
    assert _judge(_report(), "baseline", "RUN005", gpu_num=1).outcome == "skipped"
    assert _judge(_report(scenarios=(ScenarioResult("baseline"),)), "resume", "RES001").outcome == "skipped"


def test_rules_checked_by_the_harness_decide_what_was_judged() -> None:
    per_scenario = (ScenarioResult("baseline", details={"rules_checked": ["PRG001", "PRG006"]}), BOTH[1])
    report = _report(scenarios=per_scenario, rules_checked=["PRG001"])
    assert _judge(report, "baseline", "PRG006").outcome == "passed"  # the scenario's own list wins
    assert _judge(report, "baseline", "PRG002").outcome == "skipped"
    assert _judge(report, "resume", "PRG001").outcome == "passed"  # falls back on the report's list
    assert _judge(report, "resume", "PRG006").reason.startswith("PRG006 is opt-in")  # type: ignore[union-attr]


def test_failure_text_has_message_where_and_hint() -> None:
    f = _finding(
        "OUT001",
        epoch=1,
        line=7,
        path="output/files/m.th",
        hint="torch.save(model.state_dict(), ...)",
        message="expected output/files/m.th, got no such file",
    )
    assert format_finding(f) == (
        "OUT001 error (scenario baseline, epoch 1, stdout line 7): "
        "expected output/files/m.th, got no such file\n"
        "    where: output/files/m.th\n"
        "    hint: torch.save(model.state_dict(), ...)"
    )


class FakeHarness:
    """Stands in for ``check_script``: records each call and returns a prepared report (or raises)."""

    def __init__(self, result: Report | Exception) -> None:
        self.result = result
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, path: str, options: CheckOptions) -> Report:
        # The options the plugin chose: task and scenarios, and every other field it set to a non-default.
        default = CheckOptions(task=options.task)
        chosen = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
                  if getattr(options, f.name) != getattr(default, f.name)}
        self.calls.append((path, {"task": options.task, "scenarios": options.scenarios, **chosen}))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def fake_harness(monkeypatch: pytest.MonkeyPatch) -> Callable[[Report | Exception], FakeHarness]:
    def install(result: Report | Exception) -> FakeHarness:
        fake = FakeHarness(result)
        monkeypatch.setattr(pie_conformance, "check_script", fake, raising=False)
        monkeypatch.setattr(_pytest_items, "_registered_ids", lambda: ALL_BUT_SANDBOX)
        return fake

    return install


@pytest.fixture
def script(pytester: pytest.Pytester) -> str:
    pytester.makepyfile(train="print('training')\n")
    return "train.py"


def test_all_items_share_one_run_and_fail_exactly_the_rules_found(
    pytester: pytest.Pytester, fake_harness: Callable[[Report | Exception], FakeHarness], script: str
) -> None:
    fake = fake_harness(
        _report(
            _finding("PRG003", epoch=2, line=4, message="expected k=2, got k=3", hint="count epochs from 1"),
            _finding("LOG006", scenario="resume", epoch=1, path="output/trainlog.json"),
        )
    )
    result = pytester.runpytest(
        "--pie-script",
        script,
        "--pie-task",
        "segmentation",
        "--pie-epochs",
        "3",
        "--pie-timeout",
        "30",
        "-p",
        "no:cacheprovider",
    )
    assert len(fake.calls) == 1
    _, kwargs = fake.calls[0]
    assert kwargs == {
        "task": "segmentation",
        "scenarios": ("baseline", "resume", "resume-partial"),
        "epochs": 3,
        "timeout": 30.0,
    }
    failed = {r.nodeid for r in result.reprec.getreports("pytest_runtest_logreport") if r.failed}  # type: ignore[attr-defined]
    assert failed == {"train.py::baseline::PRG003", "train.py::resume::LOG006"}
    out = result.stdout.str()
    assert "PRG003 error (scenario baseline, epoch 2, stdout line 4): expected k=2, got k=3" in out
    assert "hint: count epochs from 1" in out
    assert "_pytest_items.py" not in out and "Traceback" not in out  # no traceback into the plugin


def test_skipped_items_carry_the_reason(
    pytester: pytest.Pytester, fake_harness: Callable[[Report | Exception], FakeHarness], script: str
) -> None:
    skipped = (
        ScenarioResult("baseline"),
        ScenarioResult("resume", "skipped", "baseline produced no weights"),
    )
    fake_harness(_report(scenarios=skipped))
    result = pytester.runpytest("--pie-script", script, "--pie-task", "segmentation", "-rs", "-k", "resume")
    result.assert_outcomes(skipped=len(rule_ids_for("resume")) + 1, deselected=len(rule_ids_for("baseline")))
    assert "scenario 'resume-partial' was not part of this check" in result.stdout.str()
    assert "scenario 'resume' did not run: baseline produced no weights" in result.stdout.str()


def test_warnings_pass_with_the_warning_attached_and_fail_on_warning_fails_them(
    pytester: pytest.Pytester, fake_harness: Callable[[Report | Exception], FakeHarness], script: str
) -> None:
    fake_harness(_report(_finding("PRG005", epoch=1, message="[Process: 1/2] printed twice")))
    args = ("--pie-script", script, "--pie-task", "segmentation", "-k", "baseline and PRG005")
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1, deselected=N_ITEMS - 1, warnings=1)
    assert (
        "PieConformanceWarning: PRG005 warning (scenario baseline, epoch 1): [Process: 1/2] printed twice"
        in (result.stdout.str())
    )
    failing = pytester.runpytest(*args, "--pie-fail-on-warning")
    failing.assert_outcomes(failed=1, deselected=N_ITEMS - 1)
    assert "PRG005 warning (scenario baseline, epoch 1): [Process: 1/2] printed twice" in failing.stdout.str()


def test_fail_on_warning_from_the_ini_file(
    pytester: pytest.Pytester, fake_harness: Callable[[Report | Exception], FakeHarness], script: str
) -> None:
    fake_harness(_report(_finding("OUT003")))
    pytester.makeini("[pytest]\npie_fail_on_warning = true\npie_task = segmentation\n")
    result = pytester.runpytest("--pie-script", script, "-k", "baseline and OUT003")
    assert result.parseoutcomes()["failed"] == 1


@pytest.mark.parametrize("where", ["flag", "ini"])
def test_the_old_strict_name_still_works_and_says_it_is_deprecated(
    pytester: pytest.Pytester,
    fake_harness: Callable[[Report | Exception], FakeHarness],
    script: str,
    where: str,
) -> None:
    fake_harness(_report(_finding("OUT003")))
    args = ["--pie-script", script, "--pie-task", "segmentation", "-k", "baseline and OUT003"]
    if where == "flag":
        args.append("--pie-strict")
    else:
        pytester.makeini("[pytest]\npie_strict = true\n")
    result = pytester.runpytest(*args)
    assert result.parseoutcomes()["failed"] == 1
    old = "--pie-strict" if where == "flag" else "ini option pie_strict"
    result.stdout.fnmatch_lines([f"*PieConformanceWarning: {old} is deprecated: use --pie-fail-on-warning*"])


def test_a_run_that_cannot_start_fails_every_item_once_with_the_reason(
    pytester: pytest.Pytester, fake_harness: Callable[[Report | Exception], FakeHarness], script: str
) -> None:
    fake = fake_harness(UsageError("train.py does not look like a training script"))
    result = pytester.runpytest(
        "--pie-script", script, "--pie-task", "detection", "--pie-scenario", "baseline"
    )
    assert len(fake.calls) == 1
    assert fake.calls[0][1]["scenarios"] == ("baseline",)
    result.assert_outcomes(failed=len(rule_ids_for("baseline")))
    assert "could not run" in result.stdout.str()
    assert "train.py does not look like a training script" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_a_crash_of_the_kit_is_one_line_not_a_traceback(
    pytester: pytest.Pytester, fake_harness: Callable[[Report | Exception], FakeHarness], script: str
) -> None:
    fake_harness(RuntimeError("boom"))
    result = pytester.runpytest(
        "--pie-script", script, "--pie-task", "detection", "-k", "baseline and PRG001"
    )
    result.assert_outcomes(failed=1, deselected=N_ITEMS - 1)
    assert "RuntimeError: boom" in result.stdout.str()
    assert "This is a bug in pie-conformance" in result.stdout.str()


def test_collect_only_lists_rule_items_with_their_ids(pytester: pytest.Pytester, script: str) -> None:
    result = pytester.runpytest(
        "--pie-script", script, "--pie-script", script, "--pie-task", "detection", "--collect-only", "-q"
    )
    lines = [ln for ln in result.stdout.lines if "::" in ln]
    expected = [f"train.py::{s.name}::{r}" for s in BOTH for r in rule_ids_for(s.name)]
    assert lines == expected  # the same script given twice is collected once
    assert f"{len(expected)} tests collected" in result.stdout.str()


def test_findings_without_an_item_are_shown_in_the_summary(
    pytester: pytest.Pytester, fake_harness: Callable[[Report | Exception], FakeHarness], script: str
) -> None:
    fake_harness(_report(_finding("CFG001", message="a stray finding"), _finding("PRG001", scenario="other")))
    result = pytester.runpytest("--pie-script", script, "--pie-task", "segmentation")
    assert result.parseoutcomes()["passed"] > 0
    out = result.stdout.str()
    assert "pie-conformance: findings of train.py without a test item" in out
    assert "CFG001 error (scenario baseline): a stray finding" in out
    assert "PRG001 error (scenario other): PRG001 broken" in out
