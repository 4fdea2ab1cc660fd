"""``pie-check run``: options, exit statuses, report formats, and no traceback on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pie_conformance.cli import main

CASES = Path(__file__).resolve().parents[1] / "cases"


@pytest.mark.parametrize(
    ("argv", "in_error"),
    [
        (["run", "nowhere/train.py", "--task", "segmentation"], "no train.py at nowhere/train.py"),
        (["run", str(CASES / "determinism"), "--task", "segmentation", "--size", "big"], "expected WxH"),
        (["run", str(CASES / "determinism"), "--task", "segmentation", "--size", "8x8"], "16 to 8192"),
        (["run", str(CASES / "determinism"), "--task", "segmentation", "--epochs", "0"], "at least 1"),
        (["run", str(CASES / "determinism"), "--task", "segmentation", "--timeout", "-1"], "positive"),
        (
            ["run", str(CASES / "determinism"), "--task", "segmentation", "--scenario", "nightly"],
            "invalid choice",
        ),
        (["run", str(CASES / "determinism"), "--task", "classification"], "invalid choice"),
        (["run", str(CASES / "determinism")], "--task"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], in_error: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # argparse exits by itself; a UsageError returns 2
        status = main(argv)
        raise SystemExit(status)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert in_error in err and "Traceback" not in err


def test_python_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["run", str(CASES / "determinism"), "--task", "detection", "--python", str(tmp_path / "py")]
    )
    assert status == 2
    assert "no such interpreter" in capsys.readouterr().err


def test_traincfg_with_a_python_literal_label_is_read_as_validate_cfg_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pie_conformance.datasets import DatasetSpec, generate

    cfg = generate(DatasetSpec("segmentation", train_images=1, valid_images=1)).traincfg()
    cfg["label"] = str(json.loads(cfg["label"]))  # "[{'class_name': ...}]", the form scripts eval
    path = tmp_path / "traincfg.json"
    path.write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    assert main(["validate-cfg", str(path)]) == 0
    capsys.readouterr()
    # The run gets past reading the traincfg and making its dataset; only the missing interpreter stops it.
    status = main(["run", str(CASES / "determinism"), "--task", "segmentation", "--traincfg", str(path),
                   "--python", str(tmp_path / "py")])
    err = capsys.readouterr().err
    assert status == 2 and "no such interpreter" in err and "JSON" not in err


@pytest.mark.slow
def test_json_report_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    status = main(
        [
            "run",
            str(CASES / "determinism"),
            "--task",
            "detection",
            "--scenario",
            "baseline",
            "--epochs",
            "3",
            "--format",
            "json",
            "--output",
            str(out),
        ]
    )
    assert status == 1
    assert capsys.readouterr().out.startswith("NOT CONFORMANT: script ")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["conformant"] is False and doc["task"] == "detection"
    assert doc["script"].endswith("determinism/train.py")
    assert {f["rule"] for f in doc["findings"]} == {"OUT002", "OUT004"}
    assert all(f["scenario"] == "baseline" for f in doc["findings"])
    assert [s["name"] for s in doc["scenarios"]] == ["baseline"]
    assert doc["scenarios"][0]["progress_lines"] == 3
    assert doc["timings"]["total"] >= doc["timings"]["script"] > 0


@pytest.mark.slow
def test_text_report_of_a_conformant_script(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["run", str(CASES / "conformant" / "detection"), "--task", "detection", "--scenario", "baseline"]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.startswith("CONFORMANT: script ") and "0 errors, 0 warnings" in out
