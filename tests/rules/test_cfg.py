"""CFG001-CFG006: the example folders, one test per rule, and generated configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance import strategies as pst
from pie_conformance.rules import Phase, evaluate, rules_for
from pie_conformance.validate import validate_traincfg

CASES = Path(__file__).parents[1] / "cases" / "cfg"
FAIL_CASES = sorted(CASES.glob("CFG*/fail/*.json"))
PASS_CASES = sorted(CASES.glob("pass/*.json"))

#: The rules an offline file is judged by, as the registry says.
CFG_RULE_IDS = tuple(r.id for r in rules_for(Phase.CONFIG))


def _ids(cfg: object) -> set[str]:
    return {f.rule for f in evaluate(CFG_RULE_IDS, cfg)}


@pytest.mark.parametrize("case", PASS_CASES, ids=lambda p: p.stem)
def test_conformant_examples_pass(case: Path) -> None:
    report = validate_traincfg(case)
    assert report.findings == ()


@pytest.mark.parametrize("case", FAIL_CASES, ids=lambda p: f"{p.parts[-3]}-{p.stem}")
def test_each_example_breaks_exactly_its_rule(case: Path) -> None:
    report = validate_traincfg(case)
    assert report.rule_ids() == {case.parts[-3]}, [f.message for f in report.findings]
    assert all(f.path == str(case) and f.hint for f in report.findings)


def test_every_cfg_rule_has_a_failing_example() -> None:
    assert {p.parts[-3] for p in FAIL_CASES} == set(CFG_RULE_IDS)


def _guide() -> dict:
    return json.loads((CASES / "pass" / "guide_detection.json").read_text(encoding="utf-8"))


def test_cfg001_missing_key_and_wrong_type_are_reported_separately() -> None:
    cfg = _guide()
    del cfg["epochs"]
    cfg["batch_size"] = "4"
    found = list(evaluate(["CFG001"], cfg))
    assert len(found) == 2
    assert "epochs" in found[0].message and '"epochs": 80' in (found[0].hint or "")
    assert found[1].message == "expected batch_size to be a JSON integer, got string '4'"


def test_cfg001_a_non_object_is_one_finding_and_silences_the_others() -> None:
    for value in ([], "x", 3, None, True):
        assert _ids(value) == {"CFG001"}


def test_cfg001_integral_float_counts_as_integer() -> None:
    assert _ids({**_guide(), "epochs": 80.0}) == set()


def test_cfg002_message_names_the_label_and_field() -> None:
    label = '[{"class_name":"airplane","class_value":300,"class_title":"x","class_color":"1,2,3"}]'
    cfg = {**_guide(), "label": label}
    (finding,) = evaluate(["CFG002"], cfg)
    assert "class_value to be an integer 0-255, got 300" in finding.message


def test_cfg003_hint_points_at_spaces() -> None:
    (finding,) = validate_traincfg(CASES / "CFG003" / "fail" / "spaces_after_comma.json").findings
    assert "spaces" in (finding.hint or "")


def test_cfg004_is_a_warning_only() -> None:
    report = validate_traincfg(CASES / "CFG004" / "fail" / "n_class_counts_background.json")
    assert report.conformant and report.rule_ids() == {"CFG004"}


def test_cfg005_nan_learning_rate_cannot_come_from_json_but_an_object_may_hold_it() -> None:
    assert _ids({**_guide(), "learning_rate": float("nan")}) == {"CFG005"}
    assert _ids({**_guide(), "learning_rate": 0}) == {"CFG005"}


@pytest.mark.parametrize(
    "value,ok",
    [
        ("", True),
        ("s3://pie-engine-ai/devel/u/model/1/", True),
        ("s3://pie-engine-ai/a/b/c/", True),
        ("s3://pie-engine-ai/a", False),
        ("s3://pie-engine-ai//", False),
        ("https://pie-engine-ai/a/", False),
        ("pie-engine-ai/a/", False),
    ],
)
def test_cfg006_resume_path_forms(value: str, ok: bool) -> None:
    assert (_ids({**_guide(), "resume_path": value}) == set()) is ok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(pst.TASKS).flatmap(lambda task: pst.traincfgs(task=task)))
def test_generated_configs_pass(cfg: dict) -> None:
    assert _ids(cfg) == set()


_json = pst.json_values()


@settings(max_examples=150, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries({}, optional={k: _json for k in _guide()})))
def test_arbitrary_json_never_crashes(value: object) -> None:
    # As a file's bytes, and as a parsed object (a bare str would be read as a path: not a parsed value).
    sources = [json.dumps(value).encode()] + ([] if isinstance(value, str) else [value])
    for source in sources:
        report = validate_traincfg(source)
        assert all(f.rule in CFG_RULE_IDS for f in report.findings)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list(_guide())), _json)
def test_any_value_in_any_key_never_crashes(key: str, value: object) -> None:
    report = validate_traincfg({**_guide(), key: value})
    assert all(f.rule in CFG_RULE_IDS for f in report.findings)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=100).map(str.encode))
def test_arbitrary_bytes_give_findings_or_a_usage_error(data: bytes) -> None:
    from pie_conformance.errors import UsageError

    try:
        report = validate_traincfg(data)
    except UsageError as exc:
        assert "is not JSON" in str(exc)
    else:
        assert all(f.rule in CFG_RULE_IDS for f in report.findings)


def test_deeply_nested_config_is_a_usage_error_not_a_recursion_traceback() -> None:
    from pie_conformance.errors import UsageError

    with pytest.raises(UsageError, match="nested too deeply"):
        validate_traincfg(b"[" * 100_000 + b"]" * 100_000)
    deep_label = {**_guide(), "label": "[" * 50_000 + "]" * 50_000}
    assert _ids(deep_label) == {"CFG002"}


def test_huge_integers_are_judged_not_crashed_on() -> None:
    huge = 10**400
    assert _ids({**_guide(), "learning_rate": huge, "epochs": huge}) == set()
    assert _ids({**_guide(), "learning_rate": -huge, "gpu_num": -huge}) == {"CFG005"}
    assert validate_traincfg(json.dumps({**_guide(), "batch_size": -huge}).encode()).rule_ids() == {"CFG005"}


def test_a_number_too_long_to_convert_is_a_usage_error() -> None:
    from pie_conformance.errors import UsageError

    with pytest.raises(UsageError, match="cannot be read"):
        validate_traincfg(b'{"epochs": 1' + b"0" * 5000 + b"}")
