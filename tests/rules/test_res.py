"""RES rules: unit tests on run records, then the example scripts of tests/cases/RESnnn end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from _run_records import BUCKET, ids, lines, reads, record

from pie_conformance.facts import S3Call

RES = ["RES001", "RES002", "RES003"]
CASES = Path(__file__).resolve().parents[1] / "cases"
KEY = "devel/kit/model/u1/m.th"
CFG = {
    "epochs": 2,
    "auto_termination": 0,
    "model_name": "m",
    "resume_path": f"s3://{BUCKET}/devel/kit/model/u1/",
}


def test_baseline_is_not_judged() -> None:
    assert ids(RES, record()) == []


def test_res001_request_for_the_weights() -> None:
    fetched = reads("train/", "valid/") + (S3Call("GET", BUCKET, KEY),)
    assert ids(RES, record(scenario="resume", traincfg=CFG, resume_key=KEY, calls=fetched)) == []
    wrong = reads("train/", "valid/") + (S3Call("GET", BUCKET, "devel/kit/model/u1/best.th", 404),)
    ((rule, message),) = ids(RES, record(scenario="resume", traincfg=CFG, resume_key=KEY, calls=wrong))
    assert rule == "RES001" and "got a request for devel/kit/model/u1/best.th" in message


def test_res002_summarises_the_resumed_run() -> None:
    rec = record(
        scenario="resume",
        traincfg=CFG,
        resume_key=KEY,
        calls=(S3Call("GET", BUCKET, KEY),),
        scenario_errors=("RUN001", "OUT001", "OUT001"),
    )
    ((rule, message),) = ids(RES, rec)
    assert rule == "RES002" and "got 3 errors (OUT001, RUN001;" in message


def test_res003_the_partial_run_must_reach_a_progress_line() -> None:
    ok = record(
        scenario="resume-partial", traincfg=CFG, progress=lines(1), returncode=-9, stopped_by_kit=True
    )
    assert ids(RES, ok) == []
    crashed = record(
        scenario="resume-partial",
        traincfg=CFG,
        progress=(),
        returncode=1,
        checkpoint_change="tensor 'w' has shape [3] instead of [2]",
        stderr_tail="RuntimeError: size mismatch for w",
    )
    ((rule, message),) = ids(RES, crashed)
    assert rule == "RES003"
    assert message == (
        "expected the run to start from a checkpoint that only partly matches the model "
        "(tensor 'w' has shape [3] instead of [2]), it exited with status 1 before its first "
        "progress line: RuntimeError: size mismatch for w"
    )
    slow = record(scenario="resume-partial", traincfg=CFG, progress=(), returncode=-9, timed_out=True)
    assert "did not reach its first progress line in time" in ids(RES, slow)[0][1]


#: case -> (scenarios, rule IDs found, a phrase of the case's own finding)
CASE_EXPECTED = {
    "RES001": (None, {"RES001"}, "got a request for"),
    "RES002": (["resume"], {"RES002", "RUN001"}, "got 1 error (RUN001;"),
    "RES003": (None, {"RES003"}, "exited with status 1 before its first progress line: RuntimeError: size"),
}


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", sorted(CASE_EXPECTED))
def test_case_breaks_exactly_its_rule(rule_id: str) -> None:
    from pie_conformance import CheckOptions, check_script

    scenarios, expected, in_message = CASE_EXPECTED[rule_id]
    report = check_script(
        CASES / rule_id, CheckOptions(sources=False, task="segmentation", scenarios=scenarios, timeout=120))
    assert report.rule_ids() == expected, [(f.rule, f.scenario, f.message) for f in report.findings]
    (own,) = [f for f in report.findings if f.rule == rule_id]
    assert in_message in own.message
    assert own.scenario == ("resume-partial" if rule_id == "RES003" else "resume")
    assert all(f.scenario != "baseline" for f in report.findings)
    assert [s.status for s in report.scenarios] == ["ran"] * len(report.scenarios)
