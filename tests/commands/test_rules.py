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
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [r.id for r in all_rules()]
    assert {"id", "severity", "summary", "applies"} == set(listed[0])
