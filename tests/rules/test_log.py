"""LOG002-LOG010 on files: the example folders, one test per rule, mutations and the schema's agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance import strategies as pst
from pie_conformance.rules import Phase, all_rules, rules_for
from pie_conformance.rules.log import metric_kind, parse_time
from pie_conformance.schemas import load_schema
from pie_conformance.trainlog import TrainlogChecker
from pie_conformance.validate import validate_trainlog

CASES = Path(__file__).parents[1] / "cases" / "log"
TRAINCFG = CASES / "traincfg.json"
FAIL_CASES = sorted(CASES.glob("LOG*/fail/*.json"))
PASS_CASES = sorted(CASES.glob("pass/*.json"))
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: The rules an offline file is judged by, as the registry says.
TRAINLOG_FILE_RULE_IDS = tuple(r.id for r in rules_for(Phase.LOG))


@pytest.mark.parametrize("case", PASS_CASES, ids=lambda p: p.stem)
def test_conformant_examples_pass(case: Path) -> None:
    final = bool(json.loads(case.read_bytes()).get("epochs"))
    report = validate_trainlog(case, TRAINCFG, final=final)
    assert report.findings == ()


@pytest.mark.parametrize("case", FAIL_CASES, ids=lambda p: f"{p.parts[-3]}-{p.stem}")
def test_each_example_breaks_exactly_its_rule(case: Path) -> None:
    # A name ending in ".final.json" is checked as the log of a finished run.
    report = validate_trainlog(case, TRAINCFG, final=case.name.endswith(".final.json"))
    assert report.rule_ids() == {case.parts[-3]}, [f.message for f in report.findings]
    assert all(f.hint and f.path == str(case) for f in report.findings)


def test_every_file_rule_has_a_failing_example() -> None:
    assert {p.parts[-3] for p in FAIL_CASES} == set(TRAINLOG_FILE_RULE_IDS)


def test_guide_example_needs_the_guides_class_names() -> None:
    # The guide's log names its classes "backgroud" and "bulding"; with a traincfg that spells them right
    # the same log breaks LOG007 (and only that).
    cfg = json.loads(TRAINCFG.read_text(encoding="utf-8"))
    cfg["class_name"] = "background,building"
    report = validate_trainlog(CASES / "pass" / "guide_example.json", cfg)
    assert report.rule_ids() == {"LOG007"}
    assert "bulding" in report.findings[0].message


def test_without_a_traincfg_class_names_and_training_id_are_not_judged() -> None:
    assert validate_trainlog(CASES / "LOG004" / "fail" / "other_training_id.json").findings == ()
    assert validate_trainlog(CASES / "LOG007" / "fail" / "background_spelled_right.json").findings == ()


def test_finding_epochs_locate_entry_problems() -> None:
    report = validate_trainlog(CASES / "LOG011" / "fail" / "percent_precision.json", TRAINCFG)
    (finding,) = report.findings
    assert finding.epoch == 2 and "precision=49.7" in finding.message and "[0,1]" in finding.message


def test_many_bad_values_make_one_readable_finding_per_entry() -> None:
    log = json.loads((CASES / "pass" / "guide_example.json").read_text(encoding="utf-8"))
    for entry in log["epochs"]:
        for split in ("train", "valid"):
            for item in entry[split]:
                item["values"] = {k: v * 100 for k, v in item["values"].items()}
    findings = TrainlogChecker().check(json.dumps(log).encode())
    assert [(f.rule, f.epoch) for f in findings] == [("LOG011", 1), ("LOG011", 2)]
    assert "more" in findings[0].message


@pytest.mark.parametrize(
    "key,kind",
    [
        ("precision", "ratio"), ("recall", "ratio"), ("score", "ratio"), ("F1", "ratio"),
        ("F1_score", "ratio"), ("IoU", "ratio"), ("iou", "ratio"), ("mIoU", "ratio"), ("mAP", "ratio"),
        ("mAP@0.5", "ratio"), ("P", "ratio"), ("R", "ratio"), ("acc", "ratio"), ("accuracy", "ratio"),
        ("train_precision", "ratio"), ("loss", "loss"), ("val_loss", "loss"), ("Loss", "loss"),
        ("kappa", "kappa"), ("lr", None), ("epoch_time", None), ("fps", None), ("mse", None),
    ],
)
def test_metric_kind_by_name(key: str, kind: str | None) -> None:
    assert metric_kind(key) == kind


def test_kappa_may_be_negative_but_not_below_minus_one() -> None:
    log = json.loads((CASES / "pass" / "guide_example.json").read_text(encoding="utf-8"))
    log["description"]["kappa"] = "Kappa"
    log["epochs"][0]["train"][0]["values"]["kappa"] = -0.3
    assert TrainlogChecker().check(json.dumps(log).encode()) == []
    log["epochs"][0]["train"][0]["values"]["kappa"] = -1.3
    assert {f.rule for f in TrainlogChecker().check(json.dumps(log).encode())} == {"LOG011"}


def test_parse_time_is_strict() -> None:
    assert parse_time("2021-05-14 09:10:38") is not None
    bad_times = ("2021-05-14T09:10:38", "2021-5-14 09:10:38", "2021-05-14 09:10:38.5", "2021-02-30 01:02:03",
                 5)
    for bad in bad_times:
        assert parse_time(bad) is None


# -- generated logs and mutations ---------------------------------------------------------------------------

_cfg_and_log = st.sampled_from(pst.TASKS).flatmap(lambda task: pst.traincfgs(task=task)).flatmap(
    lambda cfg: st.tuples(st.just(cfg), pst.trainlogs(cfg, epochs=st.integers(1, 3)))
)


@_SETTINGS
@given(st.sampled_from(pst.TASKS).flatmap(lambda task: pst.traincfgs(task=task)).flatmap(
    lambda cfg: st.tuples(st.just(cfg), pst.trainlogs(cfg))
))
def test_generated_logs_pass(pair: tuple[dict, dict]) -> None:
    cfg, log = pair
    assert TrainlogChecker(cfg).check(json.dumps(log, indent=4).encode(), progress_k=len(log["epochs"])) == []
    assert validate_trainlog(log, cfg).findings == ()


@pytest.mark.parametrize("mutation", pst.LOG_MUTATIONS, ids=lambda m: f"{m.rule}-{m.name}")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=_cfg_and_log)
def test_each_mutation_breaks_exactly_its_rule(mutation: pst.Mutation, pair: tuple[dict, dict]) -> None:
    cfg, log = pair
    found = {f.rule for f in TrainlogChecker(cfg).check(mutation(log))}
    assert found == {mutation.rule}


def test_mutations_cover_every_file_rule() -> None:
    assert {m.rule for m in pst.LOG_MUTATIONS} == set(TRAINLOG_FILE_RULE_IDS)


# -- the schema and the checker agree ---------------------------------------------------------------------

# LOG003 is the schema; a few schema constraints are reported by a more precise rule instead (the schema's
# "$comment"s say which): time format LOG005, metric value types LOG009, best's value types LOG010.
_SCHEMA_RULES = {"LOG003", "LOG005", "LOG009", "LOG010"}


def _schema_valid(doc: object) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema("trainlog")).is_valid(doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pst.json_values(max_leaves=30))
def test_arbitrary_json_never_crashes_and_agrees_with_the_schema(value: object) -> None:
    findings = TrainlogChecker().check(json.dumps(value).encode())
    log_rules = {r.id for r in all_rules() if r.phase is Phase.LOG}
    assert {f.rule for f in findings} <= log_rules - {"LOG001", "LOG002"}
    if any(f.rule == "LOG003" for f in findings):
        assert not _schema_valid(value)
    if not _schema_valid(value):
        assert {f.rule for f in findings} & _SCHEMA_RULES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _cfg_and_log,
    st.sampled_from(["training_id", "create_time", "description", "epochs", "best", "end_time", "epoch",
                     "train", "values", "class"]),
    pst.json_values(max_leaves=6),
)
def test_replacing_any_part_agrees_with_the_schema(pair: tuple, where: str, value: object) -> None:
    cfg, log = pair
    entry = log["epochs"][0]
    if where in ("epoch", "train"):
        entry[where] = value
    elif where in ("values", "class"):
        entry["valid"][0][where] = value
    else:
        log[where] = value
    findings = TrainlogChecker(cfg).check(json.dumps(log).encode())
    rules = {f.rule for f in findings}
    if "LOG003" in rules:
        assert not _schema_valid(log)
    if not _schema_valid(log):
        assert rules & _SCHEMA_RULES


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    findings = TrainlogChecker().check(data)
    assert {f.rule for f in findings} <= {r.id for r in all_rules() if r.phase is Phase.LOG}


def test_deep_nesting_is_a_finding_not_a_traceback() -> None:
    deep = b'{"epochs": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    (finding,) = TrainlogChecker().check(deep)
    assert finding.rule == "LOG002" and "nested too deeply" in finding.message


def test_huge_integers_are_judged_not_crashed_on() -> None:
    log = json.loads((CASES / "pass" / "guide_example.json").read_text(encoding="utf-8"))
    log["epochs"][0]["train"][0]["values"]["precision"] = 10**400
    log["best"]["recall"] = 10**400
    findings = TrainlogChecker().check(json.dumps(log).encode())
    assert [f.rule for f in findings] == ["LOG011", "LOG011"]
    assert all("..." in f.message and len(f.message) < 300 for f in findings)
