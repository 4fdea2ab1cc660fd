"""The hypothesis strategies: what they generate is valid and as varied as promised."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance import strategies as pst
from pie_conformance.traincfg import REQUIRED_KEYS, TrainCfg, parse_labels
from pie_conformance.validate import validate_traincfg, validate_trainlog

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.sampled_from(pst.TASKS).flatmap(lambda t: st.tuples(st.just(t), pst.labels(task=t, max_classes=5))))
def test_labels_follow_the_task(pair: tuple[str, list]) -> None:
    task, items = pair
    names = [item["class_name"] for item in items]
    assert len(set(names)) == len(names) and all("," not in n for n in names)
    assert (names[0] == "background") is (task != "detection")
    assert "background" not in names[1:] and "all" not in names
    if task == "change_detection":
        assert len(items) == 2
    values = [item["class_value"] for item in items]
    assert len(set(values)) == len(values) and all(0 <= v <= 255 for v in values)
    assert len(items) - (task != "detection") <= 5


@_SETTINGS
@given(st.sampled_from(pst.TASKS).flatmap(lambda t: pst.traincfgs(task=t)))
def test_traincfgs_are_valid_and_complete(cfg: dict) -> None:
    assert set(cfg) == set(REQUIRED_KEYS)
    assert validate_traincfg(cfg).findings == ()
    view = TrainCfg.from_mapping(cfg)
    assert view.labels == parse_labels(cfg["label"]) and view.load_size is not None


def test_traincfgs_reach_the_unusual_cases() -> None:
    seen: dict[str, bool] = {"non-square": False, "python-literal label": False, "class_value 255": False,
                             "resume_path": False}

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pst.traincfgs(task="segmentation"))
    def look(cfg: dict) -> None:
        w, h = cfg["load_size"].split(",")
        seen["non-square"] |= w != h
        seen["python-literal label"] |= cfg["label"].startswith("[{'")
        seen["class_value 255"] |= any(item["class_value"] == 255 for item in parse_labels(cfg["label"]))
        seen["resume_path"] |= cfg["resume_path"] != ""

    look()
    assert all(seen.values()), seen


@_SETTINGS
@given(st.sampled_from(pst.TASKS).flatmap(lambda t: pst.traincfgs(task=t)).flatmap(
    lambda cfg: st.tuples(st.just(cfg), pst.trainlogs(cfg, epochs=3))))
def test_trainlogs_are_valid_for_their_config(pair: tuple[dict, dict]) -> None:
    cfg, log = pair
    assert [e["epoch"] for e in log["epochs"]] in (["1", "2", "3"], [1, 2, 3])
    assert validate_trainlog(json.dumps(log).encode(), cfg).findings == ()


@settings(max_examples=1, deadline=None)
@given(st.data())
def test_unknown_task_is_refused(data: st.DataObject) -> None:
    with pytest.raises(ValueError, match="segmentation, detection, change_detection"):
        data.draw(pst.labels(task="classification"))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pst.traincfgs().flatmap(lambda cfg: pst.trainlogs(cfg, epochs=2)))
def test_mutations_do_not_change_their_input(log: dict) -> None:
    before = json.dumps(log, sort_keys=True)
    for mutation in pst.LOG_MUTATIONS:
        assert mutation(log) != json.dumps(log, indent=4, ensure_ascii=False).encode()
    assert json.dumps(log, sort_keys=True) == before
