"""The rule registry: IDs come from CONTRACT.md only, once each, and every rule is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pie_conformance.findings import Problem, Severity
from pie_conformance.rules import (
    CATALOGUE_BY_ID,
    Phase,
    RuleRegistrationError,
    all_rules,
    evaluate,
    get_rule,
    rule,
    rules_for,
)
from pie_conformance.rules._catalogue import CATALOGUE
from pie_conformance.rules.log import EpochEntry, LogDocument

CONTRACT = Path(__file__).parents[2] / ".." / "shared" / "CONTRACT.md"


def _noop(ctx: object) -> list[Problem]:
    return []


def test_unknown_id_is_refused() -> None:
    with pytest.raises(RuleRegistrationError, match="not a rule ID"):
        rule("CFG999", phase=Phase.CONFIG)(_noop)


def test_duplicate_id_is_refused() -> None:
    all_rules()  # make sure CFG001 is registered
    with pytest.raises(RuleRegistrationError, match="registered twice"):
        rule("CFG001", phase=Phase.CONFIG)(_noop)
    assert get_rule("CFG001").check is not _noop
    with pytest.raises(RuleRegistrationError, match="registered twice"):
        rule("LOG003", phase=Phase.LOG, on=EpochEntry)(_noop)  # LOG003 already judges epoch entries
    with pytest.raises(RuleRegistrationError, match="another scope"):
        rule("LOG004", phase=Phase.LOG, on=EpochEntry, scenarios=("baseline",))(_noop)


def test_unknown_scenario_kind_is_refused() -> None:
    with pytest.raises(RuleRegistrationError, match="unknown scenario kinds"):
        rule("CFG001", phase=Phase.CONFIG, scenarios=("nightly",))


def test_a_rule_judges_only_the_subjects_it_registered_for() -> None:
    log003 = get_rule("LOG003")
    assert set(log003.checks) == {EpochEntry, LogDocument}
    assert list(log003.problems("not a piece of a trainlog")) == []


def test_rules_for_answers_where_each_rule_applies() -> None:
    def ids(phase: Phase, **kw: object) -> set[str]:
        return {r.id for r in rules_for(phase, **kw)}  # type: ignore[arg-type]

    assert ids(Phase.CONFIG) == {f"CFG{i:03d}" for i in range(1, 7)}
    assert "LOG001" not in ids(Phase.LOG) and "LOG001" in ids(Phase.LOG, scenario="baseline")
    assert "OUT007" in ids(Phase.PROGRESS, task="segmentation", scenario="baseline")
    assert "OUT007" not in ids(Phase.PROGRESS, task="detection", scenario="baseline")
    assert "PRG006" not in ids(Phase.RUN, scenario="baseline")
    assert "PRG006" in ids(Phase.RUN, scenario="baseline", options={"check_buffering"})
    assert "PRG006" not in ids(Phase.RUN, scenario="explore-2", options={"check_buffering"})
    assert "RUN005" not in ids(Phase.RUN, scenario="baseline", options={"gpu"})
    assert ids(Phase.RUN, scenario="resume-partial") == {"RES003"}
    assert ids(Phase.SCENARIO, scenario="resume") == {"RES002"}
    assert ids(Phase.PROGRESS, scenario="resume-partial") == set()
    assert get_rule("OUT007").not_applicable(task="detection", scenario="baseline") == (
        "OUT007 applies to segmentation and change_detection only")


def test_unknown_rule_lookup_names_it() -> None:
    with pytest.raises(KeyError, match="XYZ001"):
        get_rule("XYZ001")


def test_cfg_and_log_families_are_complete_and_documented() -> None:
    registered = {r.id: r for r in all_rules()}
    for rid in [f"CFG{i:03d}" for i in range(1, 7)] + [f"LOG{i:03d}" for i in range(1, 11)]:
        r = registered[rid]
        doc = (r.check.__doc__ or "").strip()
        assert doc and "\n" not in doc, f"{rid} needs a one-line docstring"
        assert r.severity is CATALOGUE_BY_ID[rid][0]


def test_rules_come_in_catalogue_order() -> None:
    order = [rid for rid, _, _ in CATALOGUE]
    ids = [r.id for r in all_rules()]
    assert ids == sorted(ids, key=order.index)


def test_evaluate_adds_rule_severity_scenario_and_epoch() -> None:
    cfg = {"label": '[{"class_name":"a"}]', "n_class": "5"}
    (finding,) = evaluate(["CFG004"], cfg, scenario="s", epoch=3)
    assert (finding.rule, finding.severity) == ("CFG004", Severity.WARNING)
    assert (finding.scenario, finding.epoch) == ("s", 3)


CONTRACT_PAGE = Path(__file__).parents[2] / "docs" / "contract.md"
_ROW = re.compile(r"^\| ([A-Z]{3}\d{3}) \| (E|W|error|warning) \| (.*) \|$", re.M)


def _table(text: str) -> list[tuple[str, str, str]]:
    rows = _ROW.findall(text)
    return [(rid, sev[0].upper(), body.strip().replace("&#124;", "|")) for rid, sev, body in rows]


def test_catalogue_equals_the_contract_page() -> None:
    assert _table(CONTRACT_PAGE.read_text(encoding="utf-8")) == list(CATALOGUE)


def test_contract_page_agrees_with_the_shared_contract_where_it_lies_beside_the_repository() -> None:
    # The in-repository page is what the suite always checks; the shared contract it was written from
    # lies next to a development checkout and is compared too when it is there: the same IDs, in the same
    # order, at the same severities (the summaries are the kit's own words).
    page = _table(CONTRACT_PAGE.read_text(encoding="utf-8"))
    if CONTRACT.exists():
        shared = _table(CONTRACT.read_text(encoding="utf-8"))
        assert [(rid, sev) for rid, sev, _ in shared] == [(rid, sev) for rid, sev, _ in page]
    assert [rid for rid, _, _ in page] == list(CATALOGUE_BY_ID)
