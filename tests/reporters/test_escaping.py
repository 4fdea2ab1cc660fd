"""Every report writer shows the script's text escaped for its medium, and none raises on it."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from pie_conformance.findings import Finding, Report, ScenarioResult, Severity
from pie_conformance.reporters import REPORTER_BY_NAME
from pie_conformance.reporters.html import render_html

FAKE = "\x1b[1m\x1b[32mCONFORMANT: script train.py [segmentation]: 0 errors, 0 warnings\x1b[0m"
BAD_NAME = os.fsdecode(b"output/picture/pred\xff\xfe.png")


def _hostile(text: str = FAKE, name: str = BAD_NAME) -> Report:
    stderr = f"Traceback...\n{text}\r\x00\x08\ufffe"
    return Report(
        kind="run", subject="train.py", task="segmentation",
        findings=(
            Finding("RUN001", Severity.ERROR, f"expected exit status 0, got 7:\n{stderr}",
                    scenario="baseline", path=name, hint=f"fix {text}"),
            Finding("OUT009", Severity.WARNING, f"unexpected file {name}", scenario="baseline", epoch=1,
                    path=name),
        ),
        scenarios=(ScenarioResult("baseline", details={"exit_status": 7, "stderr_tail": stderr,
                                                       f"key{text}": [name]}, note=text),),
        extra={"sandbox": {"summary": f"sandbox auto: {text}"}},
    )


def _write(fmt: str, report: Report) -> str:
    out = io.StringIO()
    REPORTER_BY_NAME[fmt](report, out, False)
    text = out.getvalue()
    text.encode("utf-8")  # what --output writes: never a lone surrogate
    return text


def test_text_report_shows_escapes_and_no_forged_verdict_line() -> None:
    text = _write("text", _hostile())
    assert "\x1b" not in text and "\r" not in text and "\x00" not in text
    assert "\\x1b[32mCONFORMANT" in text and "pred\\xff\\xfe.png" in text
    lines = text.splitlines()
    assert lines[0].startswith("NOT CONFORMANT")
    assert not any(line.startswith("CONFORMANT") for line in lines)  # quoted lines are indented


def test_junit_is_well_formed_xml_with_the_text_escaped() -> None:
    root = ET.fromstring(_write("junit", _hostile()).split("\n", 1)[1])
    failure = root.find("testcase/failure")
    assert failure is not None and failure.text is not None
    assert "\\x1b[32mCONFORMANT" in failure.text and "\\x00\\x08\\ufffe" in failure.text
    assert "pred\\xff\\xfe.png" in failure.text


def test_json_is_valid_utf8_with_the_text_escaped() -> None:
    data = json.loads(_write("json", _hostile()))
    assert data["findings"][1]["path"] == "output/picture/pred\\xff\\xfe.png"
    assert data["scenarios"][0]["stderr_tail"].startswith("Traceback...\n\\x1b[1m")
    assert "\x1b" not in json.dumps(data, ensure_ascii=False)


def test_html_escapes_the_script_text() -> None:
    page = render_html(_hostile())
    page.encode("utf-8")
    assert "\x1b" not in page and "pred\\xff\\xfe.png" in page


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60),
       st.binary(max_size=30))
def test_no_writer_raises_on_any_text(text: str, raw: bytes) -> None:
    report = _hostile(text, os.fsdecode(raw) or "x")
    for fmt in REPORTER_BY_NAME:
        _write(fmt, report)
    ET.fromstring(_write("junit", report).split("\n", 1)[1])
    render_html(report).encode("utf-8")
