"""The trainlog checker across a run: incremental judging, memory of create_time, progress k, final."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance import strategies as pst
from pie_conformance._jsonio import MAX_BYTES
from pie_conformance.trainlog import TrainlogChecker, parse_trainlog

CASES = Path(__file__).parent / "cases" / "log"
GUIDE = json.loads((CASES / "pass" / "guide_example.json").read_text(encoding="utf-8"))
CFG = json.loads((CASES / "traincfg.json").read_text(encoding="utf-8"))


def _log_after(k: int, **changes: Any) -> dict[str, Any]:
    """The guide's log grown to k epochs (entries copied from its first), as a script writes it."""
    log = copy.deepcopy(GUIDE)
    first = log["epochs"][0]
    log["epochs"] = [dict(copy.deepcopy(first), epoch=str(i)) for i in range(1, k + 1)]
    log["best"] = GUIDE["best"] if k else ""
    log["end_time"] = ""
    log.update(changes)
    return log


def _raw(log: dict[str, Any], **dump: Any) -> bytes:
    return json.dumps(log, **({"indent": 4, "ensure_ascii": False} | dump)).encode("utf-8")


class CountingChecker(TrainlogChecker):
    """Counts how many epoch entries it judges."""

    judged = 0

    def _judge_entry(self, text: str, value: Any) -> Any:
        self.judged += 1
        return super()._judge_entry(text, value)


def test_missing_file_is_log001_only() -> None:
    (finding,) = TrainlogChecker(CFG, scenario="baseline").check(None, progress_k=1)
    assert finding.rule == "LOG001" and finding.path == "output/trainlog.json"


@pytest.mark.parametrize("dump", [{}, {"indent": None}, {"ensure_ascii": True}, {"indent": 2}])
def test_each_entry_is_judged_once_over_a_run(dump: dict[str, Any]) -> None:
    checker = CountingChecker(CFG)
    for k in range(0, 30):
        assert checker.check(_raw(_log_after(k), **dump), progress_k=k) == []
    assert checker.judged == 29


def test_best_written_before_epochs_still_judges_each_entry_once() -> None:
    checker = CountingChecker(CFG)
    for k in range(1, 20):
        log = _log_after(k)
        reordered = {"best": {"score": 0.1 * (k % 10)}, **{key: v for key, v in log.items() if key != "best"}}
        assert checker.check(_raw(reordered), progress_k=k) == []
    assert checker.judged == 19


def test_an_earlier_entry_rewritten_is_judged_again() -> None:
    checker = TrainlogChecker(CFG)
    for k in range(1, 5):
        assert checker.check(_raw(_log_after(k)), progress_k=k) == []
    log = _log_after(5)
    log["epochs"][1]["valid"][0]["values"]["recall"] = 3.0
    findings = checker.check(_raw(log), progress_k=5)
    assert [(f.rule, f.epoch) for f in findings] == [("LOG011", 2)]
    # ...and its finding stays while the entry stays bad, with the prefix unchanged from now on.
    log6 = copy.deepcopy(log)
    log6["epochs"].append(dict(copy.deepcopy(GUIDE["epochs"][0]), epoch="6"))
    assert [(f.rule, f.epoch) for f in checker.check(_raw(log6), progress_k=6)] == [("LOG011", 2)]


def test_incremental_results_equal_fresh_results_on_a_non_ascii_log() -> None:
    checker = TrainlogChecker(CFG)
    for k in range(1, 8):
        log = _log_after(k)
        log["description"]["IoU"] = "交并比"
        if k == 4:
            log["epochs"][2]["train"][1]["class"] = "建筑"  # not a class of the traincfg
        raw = _raw(log)
        assert checker.check(raw, progress_k=k) == TrainlogChecker(CFG).check(raw, progress_k=k)


def test_description_changing_later_rejudges_the_entries() -> None:
    checker = TrainlogChecker(CFG)
    assert checker.check(_raw(_log_after(2)), progress_k=2) == []
    log = _log_after(3)
    del log["description"]["IoU"]
    rules = [f.rule for f in checker.check(_raw(log), progress_k=3)]
    assert rules == ["LOG008"] * 4  # best, and each of the three entries


def test_description_after_epochs_changing_later_rejudges_the_entries() -> None:
    checker = TrainlogChecker(CFG)

    def moved(log: dict[str, Any]) -> dict[str, Any]:
        order = ("training_id", "create_time", "epochs", "description", "best", "end_time")
        return {key: log[key] for key in order}

    assert checker.check(_raw(moved(_log_after(2))), progress_k=2) == []
    log = _log_after(3)
    del log["description"]["IoU"]
    assert [f.rule for f in checker.check(_raw(moved(log)), progress_k=3)] == ["LOG008"] * 4


def test_progress_k_must_equal_the_number_of_entries() -> None:
    checker = TrainlogChecker(CFG)
    (finding,) = checker.check(_raw(_log_after(2)), progress_k=3)
    assert finding.rule == "LOG006" and finding.epoch == 3 and "expected 3 epoch entries" in finding.message
    assert checker.check(_raw(_log_after(3)), progress_k=3) == []


def test_entries_ahead_of_the_progress_line_are_allowed_until_the_end() -> None:
    # The script keeps running until the harness reads its line: the snapshot may hold the next epoch.
    checker = TrainlogChecker(CFG)
    assert checker.check(_raw(_log_after(3)), progress_k=2) == []
    done = _log_after(3, end_time="2021-05-14 10:51:20")
    (finding,) = checker.check(_raw(done), progress_k=2, final=True)
    assert finding.rule == "LOG006" and "needs its [Process: k/N]" in (finding.hint or "")


def test_create_time_never_changes() -> None:
    checker = TrainlogChecker(CFG)
    assert checker.check(_raw(_log_after(1)), progress_k=1) == []
    (finding,) = checker.check(_raw(_log_after(2, create_time="2021-05-14 09:11:00")), progress_k=2)
    assert finding.rule == "LOG005" and "stay '2021-05-14 09:10:38'" in finding.message


def test_create_time_lies_within_the_run_window_log012_a_warning() -> None:
    def ids(window: tuple[datetime, datetime]) -> list[str]:
        return [f.rule for f in TrainlogChecker(CFG, run_window=window, scenario="baseline").check(
            _raw(_log_after(1)))]

    assert ids((datetime(2021, 5, 14, 9, 10, 40, 500000), datetime(2021, 5, 14, 11))) == []  # 2 s of slack
    assert ids((datetime(2021, 5, 14, 9, 10, 41), datetime(2021, 5, 14, 11))) == ["LOG012"]
    assert ids((datetime(2021, 5, 14, 8), datetime(2021, 5, 14, 9))) == ["LOG012"]
    # A UTC stamp in a run on the platform's zone (UTC+8): said so, and only a warning.
    utc = (datetime(2021, 5, 14, 17, 10, 30), datetime(2021, 5, 14, 18))
    (finding,) = TrainlogChecker(CFG, run_window=utc, scenario="baseline").check(_raw(_log_after(1)))
    assert finding.rule == "LOG012" and finding.severity.value == "warning"
    assert "UTC, not local time" in finding.message
    # Offline there is no run to compare with.
    assert TrainlogChecker(CFG).check(_raw(_log_after(1))) == []


def test_classes_may_be_named_by_class_title() -> None:
    cfg = dict(CFG, label=json.dumps([
        {"class_name": "backgroud", "class_value": 0, "class_title": "背景", "class_color": "0,0,0"},
        {"class_name": "bulding", "class_value": 1, "class_title": "建筑", "class_color": "255,0,0"},
    ], ensure_ascii=False))
    log = _log_after(1)
    for split in ("train", "valid"):
        log["epochs"][0][split][1]["class"] = "建筑"
    assert TrainlogChecker(cfg).check(_raw(log)) == []
    log["epochs"][0]["train"][1]["class"] = "道路"
    assert [f.rule for f in TrainlogChecker(cfg).check(_raw(log))] == ["LOG007"]


def test_a_percentage_is_a_log011_warning_not_a_log009_error() -> None:
    log = _log_after(1)
    key = next(k for k in log["epochs"][0]["valid"][0]["values"] if "iou" in k.lower() or "acc" in k.lower())
    log["epochs"][0]["valid"][0]["values"][key] = 45.3
    (finding,) = TrainlogChecker(CFG).check(_raw(log))
    assert finding.rule == "LOG011" and finding.severity.value == "warning"
    assert "a percentage?" in finding.message and "45.3 -> 0.453" in (finding.hint or "")


def test_end_time_is_required_only_at_the_end() -> None:
    checker = TrainlogChecker(CFG)
    assert checker.check(_raw(_log_after(2)), progress_k=2) == []
    (finding,) = checker.check(_raw(_log_after(2)), progress_k=2, final=True)
    assert finding.rule == "LOG005" and "end_time to be set" in finding.message
    done = _log_after(2, end_time="2021-05-14 10:51:20")
    assert checker.check(_raw(done), progress_k=2, final=True) == []


def test_best_may_be_empty_only_before_the_first_epoch() -> None:
    checker = TrainlogChecker(CFG)
    assert checker.check(_raw(_log_after(0)), progress_k=0) == []
    (finding,) = checker.check(_raw(_log_after(1, best="")), progress_k=1)
    assert finding.rule == "LOG010"


def test_a_broken_snapshot_between_good_ones() -> None:
    checker = TrainlogChecker(CFG)
    assert checker.check(_raw(_log_after(1)), progress_k=1) == []
    half = _raw(_log_after(2))[:-40]  # read while the script was writing it
    (finding,) = checker.check(half, progress_k=2)
    assert finding.rule == "LOG002" and "line" in finding.message
    assert checker.check(_raw(_log_after(3)), progress_k=3) == []


def test_oversized_snapshot_is_refused_without_parsing() -> None:
    (finding,) = TrainlogChecker().check(b" " * (MAX_BYTES + 1))
    assert finding.rule == "LOG002" and "over the limit" in finding.message


def test_duplicate_epochs_member_keeps_the_last_like_json() -> None:
    raw = _raw(_log_after(2))
    doubled = raw[:-2] + b',\n    "epochs": []\n}'
    assert parse_trainlog(doubled)["epochs"] == []
    assert json.loads(doubled) == parse_trainlog(doubled)
    findings = TrainlogChecker(CFG).check(doubled, progress_k=2)
    assert [f.rule for f in findings] == ["LOG006"]  # 0 entries where 2 were announced
    # The same when the second member appears in a snapshot that otherwise only grew.
    checker = TrainlogChecker(CFG)
    assert checker.check(raw, progress_k=2) == []
    assert [f.rule for f in checker.check(doubled, progress_k=2)] == ["LOG006"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pst.json_values(max_leaves=25))
def test_parse_trainlog_equals_json_loads(value: Any) -> None:
    for raw in (json.dumps(value).encode(), json.dumps(value, indent=2).encode()):
        assert parse_trainlog(raw) == json.loads(raw)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(pst.TASKS).flatmap(lambda task: pst.traincfgs(task=task)).flatmap(
        lambda cfg: st.tuples(st.just(cfg), pst.trainlogs(cfg, epochs=st.integers(1, 5)))
    ),
    st.data(),
)
def test_a_run_checked_step_by_step_equals_each_snapshot_afresh(pair: tuple, data: st.DataObject) -> None:
    cfg, full = pair
    mutation = data.draw(st.sampled_from(pst.LOG_MUTATIONS))
    broken_at = data.draw(st.integers(1, len(full["epochs"])))
    checker = TrainlogChecker(cfg)
    for k in range(1, len(full["epochs"]) + 1):
        log = dict(full, epochs=full["epochs"][:k])
        raw = mutation(log) if k == broken_at else json.dumps(log, indent=4).encode()
        fresh = TrainlogChecker(cfg)
        fresh.first_create_time = checker.first_create_time
        assert checker.check(raw, progress_k=k) == fresh.check(raw, progress_k=k)


_json_chars = st.sampled_from(
    list('{}[],:" \n\t0123456789.eE-+truefalsnNaIiy\\u') + ['"epochs"', '"a"', "[]", "{}", "\ufeff"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_json_chars, max_size=30).map("".join))
def test_parse_trainlog_accepts_exactly_strict_json(text: str) -> None:
    from pie_conformance._jsonio import StrictJSONError, strict_loads

    try:
        expected = strict_loads(text)
    except StrictJSONError:
        with pytest.raises(ValueError):
            parse_trainlog(text.encode())
    else:
        assert parse_trainlog(text.encode()) == expected


def test_a_number_too_long_to_convert_is_a_finding() -> None:
    raw = _raw(_log_after(1)).replace(b'"2021-05-14 09:10:38"', b"1" + b"0" * 5000, 1)
    (finding,) = TrainlogChecker(CFG).check(raw)
    assert finding.rule == "LOG002" and "cannot be read" in finding.message
