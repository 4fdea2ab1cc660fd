"""check_script end to end: the kit's own conformant scripts, LOG at run time, the guide's notebook,
determinism, bounds, and what counts as bad input."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from pie_conformance import CheckOptions, check_script
from pie_conformance.errors import UsageError
from pie_conformance.harness.scenarios import SCENARIOS

CASES = Path(__file__).resolve().parents[1] / "cases"


@pytest.mark.slow
@pytest.mark.parametrize("task", ["segmentation", "detection", "change_detection"])
def test_conformant_scripts_pass_every_scenario(task: str) -> None:
    report = check_script(CASES / "conformant" / task, CheckOptions(task=task, timeout=120))
    assert report.findings == (), [(f.rule, f.scenario, f.message) for f in report.findings]
    assert report.conformant
    # Every rule that judged the runs is listed, so a JUnit of a conformant run shows them as passed.
    checked = report.extra["rules_checked"]
    assert {"SRC001", "PRG001", "OUT001", "LOG001", "RUN001", "RES001", "RES002", "RES003"} <= set(checked)
    assert ("OUT007" in checked) is (task != "detection") and "PRG006" not in checked
    assert report.scenarios[2].details["rules_checked"] == ["RES003"]
    import xml.etree.ElementTree as ET

    from pie_conformance.reporters.junit import write_junit

    out = io.StringIO()
    write_junit(report, out)
    suite = ET.fromstring(out.getvalue().split("\n", 1)[1])
    assert [c.get("name") for c in suite.iter("testcase")] == checked
    assert suite.get("failures") == "0" and suite.get("tests") == str(len(checked))
    assert [(s.name, s.status) for s in report.scenarios] == [(name, "ran") for name in SCENARIOS]
    baseline = report.scenarios[0].details
    assert baseline["exit_status"] == 0 and baseline["progress_lines"] == 2
    assert "checkpoint" in report.scenarios[2].details
    assert {"total", "script", "setup", "frozen", "after_exit"} <= set(report.timings)
    assert 0 < report.timings["script"] < report.timings["total"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rule_id", "in_message"),
    [
        ("LOG001", "got no such file (the same at 2 progress lines: epochs 1, 2)"),
        ("LOG006", "numbering starts at 0"),
    ],
)
def test_trainlog_rules_at_run_time(rule_id: str, in_message: str) -> None:
    report = check_script(
        CASES / rule_id, CheckOptions(sources=False,
            task="segmentation", scenarios=["baseline"], timeout=120))
    assert report.rule_ids() == {rule_id}, [(f.rule, f.message) for f in report.findings]
    assert any(in_message in f.message for f in report.findings), [f.message for f in report.findings]


@pytest.mark.slow
def test_the_guides_notebook_slip_is_pointed_at() -> None:
    report = check_script(
        CASES / "guide_notebook", CheckOptions(task="segmentation", timeout=180))
    # One run tells it twice: the static pass predicts the glued path, the run shows where the file landed.
    assert report.rule_ids() == {"SRC005", "OUT001", "OUT010"}, [(f.rule, f.message) for f in report.findings]
    (glued,) = [f for f in report.findings if f.rule == "SRC005"]
    assert glued.scenario == "source" and glued.path == "train.py" and glued.line
    assert report.extra["sources"]["files_read"] == 1
    (missing,) = [f for f in report.findings if f.rule == "OUT001"]
    (outside,) = [f for f in report.findings if f.rule == "OUT010"]
    assert "outputlinknet34.th" in missing.message and "outputlinknet34.th" in outside.message
    for f in (missing, outside):
        assert "'/' is missing" in (f.hint or "") and "output/files/linknet34.th" in (f.hint or "")
    skipped = [s for s in report.scenarios if s.status == "skipped"]
    assert [s.name for s in skipped] == ["resume", "resume-partial"]
    assert all("no weights to resume from" in (s.note or "") for s in skipped)


@pytest.mark.slow
def test_same_findings_ten_runs_in_a_row() -> None:
    # The script rewrites its trainlog right after each progress line; the kit must see it as it was.
    seen = set()
    for _ in range(10):
        report = check_script(
            CASES / "determinism",
            CheckOptions(sources=False, task="detection", epochs=5, scenarios=["baseline"], timeout=60))
        seen.add(tuple((f.rule, f.scenario, f.epoch, f.path, f.message, f.hint) for f in report.findings))
    assert len(seen) == 1
    (findings,) = seen
    assert {f[0] for f in findings} == {"OUT002", "OUT004"}


@pytest.mark.slow
def test_flooded_stdout_is_capped_and_still_parsed(tmp_path: Path) -> None:
    script = (CASES / "determinism" / "train.py").read_text(encoding="utf-8")
    flood = 'import sys\nfor _ in range(40000):\n    sys.stdout.write("x" * 200 + "\\n")\n'
    (tmp_path / "train.py").write_text(script.replace("for k in range(1,", flood + "for k in range(1,", 1))
    report = check_script(
        tmp_path, CheckOptions(sources=False, task="detection", epochs=2, scenarios=["baseline"], timeout=60))
    details = report.scenarios[0].details
    assert details["stdout_bytes"] > 8_000_000
    assert "every line was read for progress" in details["stdout_note"]
    assert details["progress_lines"] == 2
    assert "PRG001" not in report.rule_ids()


@pytest.mark.slow
def test_keep_leaves_run_folders_and_snapshots(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    report = check_script(
        CASES / "determinism", CheckOptions(sources=False,
            task="detection", scenarios=["baseline"], keep=keep, timeout=60))
    run = Path(report.scenarios[0].details["run_folder"])
    assert run == keep.resolve() / "baseline"
    assert (run / "work" / "traincfg.json").is_file()
    assert (run / "snapshots" / "0001" / "output" / "trainlog.json").is_file()
    assert (run / "snapshots" / "0002" / "output" / "files" / "yolo.th").read_bytes() == b"epoch 2"


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print()")
    with pytest.raises(UsageError, match="no train.py"):
        check_script(
        tmp_path, CheckOptions(sources=False, task="segmentation"))
    with pytest.raises(UsageError, match="named train.py"):
        check_script(
        tmp_path / "main.py", CheckOptions(sources=False, task="segmentation"))
    with pytest.raises(UsageError, match="no train.py"):
        check_script(
        tmp_path / "nowhere", CheckOptions(sources=False, task="segmentation"))
    shutil.copy(tmp_path / "main.py", tmp_path / "train.py")
    with pytest.raises(UsageError, match="task"):
        check_script(
        tmp_path, CheckOptions(sources=False, task="classification"))
    with pytest.raises(UsageError, match="epochs"):
        check_script(
        tmp_path, CheckOptions(sources=False, task="segmentation", epochs=0))
    with pytest.raises(UsageError, match="size"):
        check_script(
        tmp_path, CheckOptions(sources=False, task="segmentation", size=(8, 8)))
    with pytest.raises(UsageError, match="scenarios"):
        check_script(
        tmp_path, CheckOptions(sources=False, task="segmentation", scenarios=["nightly"]))
    with pytest.raises(UsageError, match="python"):
        check_script(
        tmp_path, CheckOptions(sources=False, task="segmentation", python=str(tmp_path / "no-python")))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(UsageError, match="keep folder"):
        check_script(
        tmp_path, CheckOptions(sources=False, task="segmentation", keep=tmp_path / "full"))


@pytest.mark.slow
def test_a_port_taken_before_the_mock_binds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import pie_conformance.harness.session as check_module

    with socket.create_server(("127.0.0.1", 0)) as taken:
        monkeypatch.setattr(check_module, "_free_port", lambda: taken.getsockname()[1])
        report = check_script(
        CASES / "determinism", CheckOptions(sources=False,
            task="detection", scenarios=["baseline"], timeout=60))
    assert report.rule_ids() == {"OUT002", "OUT004"}, [(f.rule, f.message) for f in report.findings]
    assert report.scenarios[0].details["progress_lines"] == 2
