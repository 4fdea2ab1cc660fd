"""``--pie-script`` and ``pie_run`` on real scripts through the real harness (the kit's fast examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pie_conformance._pytest_items import rule_ids_for

pytest_plugins = ["pytester"]

CASES = Path(__file__).resolve().parents[1] / "cases"
CONFORMANT = CASES / "conformant"

# Sandbox rules the harness does not check, and the opt-in buffering rule: skipped, never passed or failed.
NOT_JUDGED = {"RUN003", "RUN007", "PRG006"}


def _outcomes(result: pytest.RunResult) -> dict[str, set[str]]:
    by: dict[str, set[str]] = {"passed": set(), "failed": set(), "skipped": set()}
    for rep in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
        if rep.when == "call" or rep.outcome != "passed":
            by[rep.outcome].add(rep.nodeid.split("::", 1)[1])
    return by


def test_conformant_script_gives_all_pass_items(pytester: pytest.Pytester) -> None:
    script = CONFORMANT / "change_detection"
    result = pytester.runpytest(
        "--pie-script", str(script), "--pie-task", "change_detection", "-p", "no:cacheprovider"
    )
    got = _outcomes(result)
    assert got["failed"] == set()
    expected = {f"{s}::{r}" for s in ("baseline", "resume", "resume-partial") for r in rule_ids_for(s)}
    assert got["passed"] | got["skipped"] == expected
    assert {item.rsplit("::", 1)[1] for item in got["skipped"]} <= NOT_JUDGED
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("PRG003", ("PRG003 error (scenario baseline", "expected N = 2")),  # it prints N = number of images
        ("OUT004", ("OUT004 error (scenario baseline", "label.png")),  # it never writes label.png
    ],
)
def test_broken_script_fails_exactly_the_items_of_its_rule(
    pytester: pytest.Pytester, case: str, says: str
) -> None:
    result = pytester.runpytest(
        "--pie-script", str(CASES / case), "--pie-task", "segmentation", "--pie-scenario", "baseline",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    got = _outcomes(result)
    assert got["failed"] == {f"baseline::{case}"}
    assert len(got["passed"]) == len(rule_ids_for("baseline")) - 1 - len(got["skipped"])
    out = result.stdout.str()
    assert all(part in out for part in says) and "hint: " in out
    assert "_pytest_items.py" not in out and "Traceback" not in out


@pytest.mark.pie(task="detection", epochs=1, scenarios=["baseline"])
def test_pie_run_returns_the_report(pie_run) -> None:
    report = pie_run(CONFORMANT / "detection")
    assert report.kind == "run" and report.task == "detection"
    assert report.conformant, report.errors
    assert [s.name for s in report.scenarios] == ["baseline"]
    assert report.scenarios[0].details["progress_lines"] == 1  # epochs=1 from the marker


def test_pie_run_needs_a_task(pie_run) -> None:
    with pytest.raises(ValueError, match="pie_run needs the task of the script"):
        pie_run(CONFORMANT / "detection")
