"""``pie-check rules`` and the generated docs/rules.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pie_conformance.cli import main
from pie_conformance.commands.rules import render_markdown
from pie_conformance.rules import all_rules

DOC = Path(__file__).parents[2] / "docs" / "rules.md"


def test_docs_rules_md_equals_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/rules.md is stale: regenerate it with `pie-check rules --format markdown > docs/rules.md`"
    )


def test_markdown_lists_every_registered_rule_once() -> None:
    text = render_markdown()
    for r in all_rules():
        assert text.count(f"| {r.id} | {r.severity.value} |") == 1


def test_text_and_json_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(all_rules()) and lines[0].startswith("CFG001  error")
    assert main(["rules", "--format", "json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    assert catalogue["report_version"] == 1 and catalogue["kind"] == "rules"
    listed = catalogue["rules"]
    assert [r["id"] for r in listed] == [r.id for r in all_rules()]
    assert {"id", "severity", "summary"} == set(listed[0])


def test_junit_format_has_a_passed_case_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    import xml.etree.ElementTree as ET

    assert main(["rules", "--format", "junit"]) == 0
    suite = ET.fromstring(capsys.readouterr().out.split("\n", 1)[1])
    cases = suite.findall("testcase")
    assert suite.get("tests") == str(len(cases)) == str(len(all_rules())) and suite.get("failures") == "0"
    assert [c.get("name", "").split()[0] for c in cases] == [r.id for r in all_rules()]
    assert all(c.find("failure") is None for c in cases)
    severities = {p.get("value") for c in cases for p in c.iter("property") if p.get("name") == "severity"}
    assert severities == {"error", "warning"}


def test_sarif_format_lists_every_rule_as_the_tool_driver(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "sarif"]) == 0
    log = json.loads(capsys.readouterr().out)
    (run,) = log["runs"]
    assert run["results"] == []
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.id for r in all_rules()]


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "rules.json"
    assert main(["rules", "--format", "json", "--output", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert len(json.loads(target.read_text(encoding="utf-8"))["rules"]) == len(all_rules())
    assert main(["rules", "--output", str(tmp_path)]) == 2
    assert "cannot write the catalogue to" in capsys.readouterr().err


def test_the_catalogue_listed_is_the_registry() -> None:
    # `pie-check rules` reads the catalogue (no rule module imported); every catalogued rule is registered.
    from pie_conformance.rules import CATALOGUE_BY_ID

    assert list(CATALOGUE_BY_ID) == [r.id for r in all_rules()]
    assert all(CATALOGUE_BY_ID[r.id] == (r.severity, r.summary) for r in all_rules())
