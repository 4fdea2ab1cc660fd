"""``--pie-script`` and ``pie_run`` on real scripts through the real harness (the kit's fast examples)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pie_conformance._pytest_items import rule_ids_for

pytest_plugins = ["pytester"]

CASES = Path(__file__).resolve().parents[1] / "cases"
CONFORMANT = CASES / "conformant"

# Sandbox rules the harness does not check, and the opt-in buffering rule: skipped, never passed or failed.
NOT_JUDGED = {"RUN003", "RUN007", "PRG006"}

# A script that breaks exactly PRG002: before each correct progress line it prints a near-miss.
PRG002_SCRIPT = """
import tiny


class NearMiss(tiny.Trainer):
    def announce(self, epoch):
        print(f"Process: {epoch}/{self.epochs} done", flush=True)
        super().announce(epoch)


tiny.main(NearMiss, task="segmentation")
"""


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


def test_broken_script_fails_exactly_the_items_of_its_rule(pytester: pytest.Pytester) -> None:
    shutil.copy(CASES / "_lib" / "tiny.py", pytester.path / "tiny.py")
    pytester.makepyfile(train=PRG002_SCRIPT)
    result = pytester.runpytest(
        "--pie-script",
        "train.py",
        "--pie-task",
        "segmentation",
        "--pie-scenario",
        "baseline",
        "-p",
        "no:cacheprovider",
    )
    got = _outcomes(result)
    assert got["failed"] == {"baseline::PRG002"}
    assert len(got["passed"]) == len(rule_ids_for("baseline")) - 1 - len(got["skipped"])
    out = result.stdout.str()
    assert "PRG002 error (scenario baseline, epoch 1, stdout line 1): expected a progress line exactly" in out
    assert "hint: " in out
    assert "_pytest_items.py" not in out and "Traceback" not in out


def test_a_kit_example_case_fails_its_own_rule_only(pytester: pytest.Pytester) -> None:
    # tests/cases/OUT004: a segmentation run that never writes label.png.
    result = pytester.runpytest(
        "--pie-script", str(CASES / "OUT004"), "--pie-task", "segmentation", "--pie-scenario", "baseline"
    )
    got = _outcomes(result)
    assert got["failed"] == {"baseline::OUT004"}
    assert "label.png" in result.stdout.str()


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
