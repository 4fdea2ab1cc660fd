"""The text, JSON and JUnit writers: what a person and a CI system read."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from pie_conformance.findings import Finding, Report, ScenarioResult, Severity
from pie_conformance.reporters import REPORTER_BY_NAME
from pie_conformance.reporters.text import verdict_line, write_text

E, W = Severity.ERROR, Severity.WARNING


def _report() -> Report:
    return Report(
        kind="run",
        subject="train.py",
        task="segmentation",
        findings=(
            Finding(
                "OUT008",
                W,
                "pred.png not refreshed",
                scenario="baseline",
                epoch=2,
                path="output/picture/pred.png",
                hint="write the pictures every epoch",
            ),
            Finding(
                "PRG003",
                E,
                "expected N = 2, got 4",
                scenario="baseline",
                epoch=1,
                line=3,
                hint="print the traincfg's epochs",
            ),
            Finding(
                "PRG003",
                E,
                "expected N = 2, got 4",
                scenario="resume",
                epoch=1,
                line=3,
                hint="print the traincfg's epochs",
            ),
        ),
        scenarios=(
            ScenarioResult(
                "baseline", details={"progress_lines": 2, "exit_status": 0, "script_seconds": 1.25}
            ),
            ScenarioResult("resume", status="skipped", note="no weights to resume from"),
        ),
        timings={"total": 2.5, "script": 1.25},
        extra={"rules_checked": ("PRG001", "PRG003", "OUT008")},
    )


def _render(fmt: str, report: Report) -> str:
    out = io.StringIO()
    REPORTER_BY_NAME[fmt](report, out, False)
    return out.getvalue()


def test_verdict_line_counts_errors_and_warnings() -> None:
    assert verdict_line(_report()) == "NOT CONFORMANT: script train.py [segmentation]: 2 errors, 1 warning"
    assert (
        verdict_line(Report(kind="traincfg", subject="c.json"))
        == "CONFORMANT: traincfg c.json: 0 errors, 0 warnings"
    )


def test_text_groups_by_rule_errors_first_with_one_hint_per_group() -> None:
    text = _render("text", _report())
    lines = text.splitlines()
    assert lines[0].startswith("NOT CONFORMANT")
    assert "  scenario baseline: ran, 2 progress lines, exit status 0, 1.2s" in lines
    assert "  scenario resume: skipped (no weights to resume from)" in lines
    assert text.index("PRG003 error") < text.index("OUT008 warning")
    assert text.count("hint: print the traincfg's epochs") == 1
    assert "[scenario resume, epoch 1, stdout line 3]" in text
    assert "\033[" not in text


def test_text_colour_only_when_asked() -> None:
    out = io.StringIO()
    write_text(_report(), out, colour=True)
    assert "\033[31m" in out.getvalue()


def test_json_is_the_contract_shape() -> None:
    doc = json.loads(_render("json", _report()))
    assert doc["conformant"] is False
    assert doc["task"] == "segmentation" and doc["script"] == "train.py"
    assert [s["name"] for s in doc["scenarios"]] == ["baseline", "resume"]
    first = doc["findings"][0]
    assert set(first) >= {"rule", "severity", "message", "scenario", "epoch", "path", "hint"}
    assert {f["severity"] for f in doc["findings"]} == {"error", "warning"}


def test_junit_has_a_case_per_checked_rule_failed_by_errors_only() -> None:
    root = ET.fromstring(_render("junit", _report()))
    cases = {c.get("name", "").split()[0]: c for c in root.iter("testcase")}
    assert set(cases) == {"PRG001", "PRG003", "OUT008"}
    assert root.get("failures") == "1"
    assert cases["PRG003"].find("failure") is not None
    assert cases["PRG001"].find("failure") is None
    assert cases["OUT008"].find("failure") is None
    assert "warning: pred.png not refreshed" in (cases["OUT008"].findtext("system-out") or "")
