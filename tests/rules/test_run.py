"""RUN rules: unit tests on run records, then the example scripts of tests/cases/RUNnnn end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from _run_records import BUCKET, PREFIX, ids, lines, reads, record

from pie_conformance.facts import S3Call

RUN = ["RUN001", "RUN002", "RUN004", "RUN005", "RUN006"]
CASES = Path(__file__).resolve().parents[1] / "cases"


def test_a_clean_run_has_no_finding() -> None:
    assert ids(RUN, record()) == []


def test_run001_names_the_epoch_and_the_error() -> None:
    from pie_conformance.rules import evaluate

    rec = record(returncode=1, progress=lines(1), stderr_tail="Traceback ...\n  File x\nKeyError: 'model'\n")
    (f,) = evaluate(RUN, rec)
    assert f.rule == "RUN001" and f.epoch == 1
    assert f.message == "expected exit status 0, got 1 after epoch 1 of 2: KeyError: 'model'"
    assert "KeyError: 'model'" in (f.hint or "")


def test_run001_signal_and_start_error() -> None:
    ((_, message),) = ids(["RUN001"], record(returncode=-11, progress=()))
    assert message == "expected exit status 0, it was killed by SIGSEGV before its first progress line"
    ((_, message),) = ids(["RUN001"], record(returncode=None, start_error="/no/python: No such file"))
    assert "/no/python" in message


def test_run002_is_the_only_finding_of_a_timeout() -> None:
    found = ids(RUN, record(timed_out=True, returncode=-9, progress=lines(1), timeout=5))
    assert found == [
        (
            "RUN002",
            "expected the run to finish within 5 s, it was still running after epoch 1 of 2 "
            "and was killed (with everything it started)",
        )
    ]


def test_run004_writes_and_changed_contents() -> None:
    put = S3Call("PUT", BUCKET, PREFIX + "train/images/x.png")
    other = S3Call("PUT", BUCKET, "devel/kit/model/x.th")  # not the dataset
    found = ids(["RUN004"], record(calls=reads("train/", "valid/") + (put, other)))
    assert found == [
        ("RUN004", f"expected the dataset to be read only, got a PUT of s3://{BUCKET}/{put.key}")
    ]
    found = ids(["RUN004"], record(dataset_after={"a": "2"}))
    assert [r for r, _ in found] == ["RUN004"]
    deletes = tuple(S3Call("DELETE", BUCKET, f"{PREFIX}train/{i}") for i in range(12))
    assert len(ids(["RUN004"], record(calls=deletes))) == 11


def test_run005_reads_the_probe() -> None:
    ((_, message),) = ids(["RUN005"], record(probe={"cuda_visible_devices": "0", "cuda_initialized": False}))
    assert "got '0'" in message
    ((_, message),) = ids(["RUN005"], record(probe={"cuda_visible_devices": None, "cuda_initialized": False}))
    assert "got unset" in message
    found = ids(["RUN005"], record(probe={"cuda_visible_devices": "", "cuda_initialized": True}))
    assert [m for _, m in found] == ["expected no CUDA use with gpu_num 0, got an initialised CUDA context"]
    assert ids(["RUN005"], record(probe=None)) == []  # no report: nothing to judge
    assert ids(["RUN005"], record(gpu_num=1, probe={"cuda_visible_devices": "0"})) == []


def test_run006_needs_both_splits() -> None:
    found = ids(["RUN006"], record(calls=reads("train/")))
    assert len(found) == 1 and f"{PREFIX}valid/" in found[0][1] and "made no request" in found[0][1]
    listed = reads("train/") + (S3Call("LIST", BUCKET, ""),)
    assert "listed keys but fetched none" in ids(["RUN006"], record(calls=listed))[0][1]
    assert ids(["RUN006"], record(calls=(), returncode=1)) == []  # a crash is RUN001's


CASE_EXPECTED = {
    "RUN001": ("got 1 after epoch 1 of 2: ValueError: shapes (4,3) and (5,3) not aligned", "stderr", {}),
    "RUN002": ("still running after epoch 1 of 2", "--timeout", {"timeout": 20}),
    "RUN004": ("got a PUT of s3://pie-engine-ai/devel/kit/dataset/segmentation/", "read-only", {}),
    "RUN005": ("expected CUDA_VISIBLE_DEVICES to stay \"\" with gpu_num 0, got '0'", "do not set", {}),
    "RUN006": ("/valid/ through aiUtils, got none", "getImgXmlArray", {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", sorted(CASE_EXPECTED))
def test_case_breaks_exactly_its_rule(rule_id: str) -> None:
    from pie_conformance import CheckOptions, check_script

    in_message, in_hint, kw = CASE_EXPECTED[rule_id]
    kw.setdefault("timeout", 120)
    report = check_script(CASES / rule_id, CheckOptions(sources=False,
        task="segmentation", scenarios=["baseline"], **kw))
    assert report.rule_ids() == {rule_id}, [(f.rule, f.message) for f in report.findings]
    assert any(in_message in f.message for f in report.findings), [f.message for f in report.findings]
    assert any(in_hint in (f.hint or "") for f in report.findings), [f.hint for f in report.findings]
    assert not report.conformant


def test_run008_one_warning_per_kind_of_aiutils_slip() -> None:
    from pie_conformance.aiutils_events import AiUtilsEvent
    from pie_conformance.rules import evaluate

    reversed_call = AiUtilsEvent("downS3Weight", "reversed-arguments",
                                 "its first argument names an S3 object", ("devel/x/model.th", "/tmp/m.th"))
    events = (reversed_call, reversed_call, AiUtilsEvent("getImages", "case-sensitive-extension",
                                                         "2 keys ending in .JPG were left out"))
    found = list(evaluate(["RUN008"], record(aiutils_events=events)))
    assert [f.rule for f in found] == ["RUN008", "RUN008"]
    assert all(f.severity.value == "warning" for f in found)
    assert "local path FIRST" in (found[0].hint or "") and "getFileList" in (found[1].hint or "")
    assert list(evaluate(["RUN008"], record())) == []
