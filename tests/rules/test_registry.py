"""The rule registry: IDs come from CONTRACT.md only, once each, and every rule is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pie_conformance.findings import Problem, Severity
from pie_conformance.rules import (
    CATALOGUE_BY_ID,
    RuleRegistrationError,
    all_rules,
    evaluate,
    get_rule,
    rule,
)
from pie_conformance.rules._catalogue import CATALOGUE

CONTRACT = Path(__file__).parents[2] / ".." / "shared" / "CONTRACT.md"


def _noop(ctx: object) -> list[Problem]:
    return []


def test_unknown_id_is_refused() -> None:
    with pytest.raises(RuleRegistrationError, match="not a rule ID"):
        rule("CFG999")(_noop)


def test_duplicate_id_is_refused() -> None:
    all_rules()  # make sure CFG001 is registered
    with pytest.raises(RuleRegistrationError, match="registered twice"):
        rule("CFG001")(_noop)
    assert get_rule("CFG001").check is not _noop


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


@pytest.mark.skipif(not CONTRACT.exists(), reason="CONTRACT.md is not next to the repository")
def test_catalogue_equals_the_contract_table() -> None:
    table = CONTRACT.read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([A-Z]{3}\d{3}) \| ([EW]) \| (.*) \|$", table, re.M)
    assert [(rid, sev, text.strip()) for rid, sev, text in rows] == list(CATALOGUE)
