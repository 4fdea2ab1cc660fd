"""``pie-check validate-cfg`` and ``pie-check validate-log``: exit status, formats, output file, bad input."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pie_conformance.cli import main

CASES = Path(__file__).parents[1] / "cases"
CFG_OK = CASES / "cfg" / "pass" / "guide_detection.json"
LOG_OK = CASES / "log" / "pass" / "guide_example.json"
LOG_CFG = CASES / "log" / "traincfg.json"


def test_conformant_config_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-cfg", str(CFG_OK)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CONFORMANT: traincfg") and "\033[" not in out


def test_broken_config_exits_1_with_rule_message_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-cfg", str(CASES / "cfg" / "CFG006" / "fail" / "no_trailing_slash.json")]) == 1
    out = capsys.readouterr().out
    assert "NOT CONFORMANT" in out and "CFG006 error" in out and "hint: end the folder URL with '/'" in out


def test_warning_only_config_is_conformant(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "cfg" / "CFG004" / "fail" / "n_class_counts_background.json"
    assert main(["validate-cfg", str(case)]) == 0
    assert "CFG004 warning" in capsys.readouterr().out


def test_guide_log_with_its_config_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-log", str(LOG_OK), "--traincfg", str(LOG_CFG), "--final"]) == 0


def test_json_format_is_the_contract_report(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "log" / "LOG009" / "fail" / "placeholder_text.json"
    assert main(["validate-log", str(case), "--traincfg", str(LOG_CFG), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["conformant"] is False and report["kind"] == "trainlog" and report["script"] == str(case)
    (finding,) = report["findings"]
    assert finding["rule"] == "LOG009" and finding["severity"] == "error" and finding["epoch"] == 1
    assert finding["path"] == str(case) and finding["hint"]
    assert report["rules_checked"] == [f"LOG{i:03d}" for i in range(2, 12)]


def test_junit_format_has_a_case_per_rule_checked(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "cfg" / "CFG002" / "fail" / "color_out_of_range.json"
    assert main(["validate-cfg", str(case), "--format", "junit"]) == 1
    suite = ET.fromstring(capsys.readouterr().out.split("\n", 1)[1])
    assert suite.get("tests") == "6" and suite.get("failures") == "1"
    failed = [c.get("name", "") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(failed) == 1 and failed[0].startswith("CFG002")


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report.json"
    assert main(["validate-cfg", str(CFG_OK), "--format", "json", "--output", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["conformant"] is True
    assert capsys.readouterr().out.startswith("CONFORMANT")


def test_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(CFG_OK.read_bytes())))
    assert main(["validate-cfg", "-"]) == 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["validate-cfg", "does/not/exist.json"], "does not exist"),
        (["validate-log", "does/not/exist.json"], "does not exist"),
        (["validate-log", str(LOG_OK), "--traincfg", "missing.json"], "does not exist"),
        (["validate-cfg", str(CASES)], "is a directory"),
    ],
)
def test_usage_errors_exit_2_without_traceback(argv: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_config_that_is_not_json_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "traincfg.json"
    bad.write_bytes(b"epochs=80\n")
    assert main(["validate-cfg", str(bad)]) == 2
    assert "is not JSON: Expecting value at line 1, column 1" in capsys.readouterr().err
    bad.write_bytes(b"[1, 2]")
    assert main(["validate-cfg", str(bad)]) == 1  # JSON, but not an object: a CFG001 finding
    assert main(["validate-log", str(LOG_OK), "--traincfg", str(bad)]) == 2


def test_log_that_is_not_json_is_a_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "trainlog.json"
    bad.write_bytes(b'{"training_id": "x"} trailing')
    assert main(["validate-log", str(bad)]) == 1
    assert "LOG002" in capsys.readouterr().out


def test_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import pie_conformance._jsonio as jsonio

    monkeypatch.setattr(jsonio, "MAX_BYTES", 100)
    big = tmp_path / "trainlog.json"
    big.write_bytes(b" " * 101)
    assert main(["validate-log", str(big)]) == 2
    assert "over the limit of 100 bytes" in capsys.readouterr().err


def test_python_api_accepts_paths_bytes_text_and_objects() -> None:
    from pie_conformance import validate_traincfg, validate_trainlog

    cfg = json.loads(CFG_OK.read_text(encoding="utf-8"))
    for source in (CFG_OK, str(CFG_OK), CFG_OK.read_bytes(), CFG_OK.read_text(encoding="utf-8"), cfg):
        report = validate_traincfg(source)
        assert report.kind == "traincfg" and report.conformant and report.findings == ()
    log_cfg = json.loads(LOG_CFG.read_text(encoding="utf-8"))
    for source in (LOG_OK, LOG_OK.read_bytes(), json.loads(LOG_OK.read_text(encoding="utf-8"))):
        report = validate_trainlog(source, log_cfg)
        assert report.kind == "trainlog" and report.findings == ()


# -- many files in one call ----------------------------------------------------------------------------------

CFG_BAD = CASES / "cfg" / "CFG005" / "fail" / "epochs_zero.json"
CFG_WARN = CASES / "cfg" / "CFG004" / "fail" / "n_class_counts_background.json"


def test_many_configs_make_one_report_with_a_verdict_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-cfg", str(CFG_OK), str(CFG_BAD), str(CFG_WARN), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["conformant"] is False and report["script"] == "3 files" and report["kind"] == "traincfg"
    assert [(f["path"], f["conformant"], f["errors"], f["warnings"]) for f in report["files"]] == [
        (str(CFG_OK), True, 0, 0), (str(CFG_BAD), False, 1, 0), (str(CFG_WARN), True, 0, 1)
    ]
    assert {(f["rule"], f["path"]) for f in report["findings"]} == {("CFG005", str(CFG_BAD)),
                                                                    ("CFG004", str(CFG_WARN))}
    assert report["rules_checked"] == ["CFG001", "CFG002", "CFG003", "CFG004", "CFG005", "CFG006"]


def test_many_configs_all_conformant_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-cfg", str(CFG_OK), str(CFG_WARN)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CONFORMANT: traincfg 2 files: 0 errors, 1 warning\n")
    assert f"  {CFG_WARN}: conformant (0 errors, 1 warning)\n" in out


def test_a_file_that_cannot_be_read_among_many_exits_2_and_the_rest_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_json = tmp_path / "traincfg.json"
    not_json.write_bytes(b"epochs=80\n")
    argv = ["validate-cfg", str(CFG_OK), str(not_json), str(tmp_path / "gone.json"), "--format", "json"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert f"traincfg {not_json} is not JSON" in captured.err and "gone.json does not exist" in captured.err
    report = json.loads(captured.out)
    assert report["conformant"] is False and report["script"] == "3 files"
    assert [f["path"] for f in report["files"]] == [str(CFG_OK)]
    assert [p["path"] for p in report["problems"]] == [str(not_json), str(tmp_path / "gone.json")]


def test_many_logs_share_one_traincfg(capsys: pytest.CaptureFixture[str]) -> None:
    other = CASES / "log" / "LOG009" / "fail" / "placeholder_text.json"
    argv = ["validate-log", str(LOG_OK), str(other), "--traincfg", str(LOG_CFG), "--format", "json"]
    assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["conformant"] for f in report["files"]] == [True, False]
    assert {f["rule"] for f in report["findings"]} == {"LOG009"}


def test_a_missing_traincfg_fails_the_call_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-log", str(LOG_OK), str(LOG_OK), "--traincfg", "missing.json"]) == 2
    assert capsys.readouterr().err.count("does not exist") == 1


@pytest.mark.parametrize(
    "argv",
    [["validate-cfg", "-", "-"], ["validate-log", "-", "--traincfg", "-"]],
)
def test_standard_input_is_read_once(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "standard input ('-') can be read only once" in capsys.readouterr().err
