"""_escape: what a report may not emit raw is shown as an escape, and nothing raises."""

from __future__ import annotations

import json
import os

from hypothesis import given
from hypothesis import strategies as st

from pie_conformance._escape import fs_name, indent_lines, visible, visible_data


def test_terminal_controls_are_shown_as_escapes() -> None:
    assert visible("\x1b[32mCONFORMANT\x1b[0m") == "\\x1b[32mCONFORMANT\\x1b[0m"
    assert visible("a\rb\x07c\x7fd\x9be") == "a\\rb\\x07c\\x7fd\\x9be"
    assert visible("bidi \u202eevil\u2069") == "bidi \\u202eevil\\u2069"


def test_newlines_and_tabs_stay_unless_one_line() -> None:
    assert visible("a\n\tb") == "a\n\tb"
    assert visible("a\n\tb", one_line=True) == "a\\n\\tb"


def test_undecodable_bytes_of_a_file_name_are_shown_as_the_byte() -> None:
    raw = b"pred\xff\xfe.png"
    assert fs_name(raw) == "pred\\xff\\xfe.png"
    assert fs_name(os.fsdecode(raw)) == "pred\\xff\\xfe.png"  # the surrogateescape'd str of os.listdir
    assert visible("\ud800") == "\\ud800"  # a surrogate that stands for no byte


def test_ordinary_text_is_unchanged() -> None:
    text = "精确度 F1分数: 0.93 — output/picture/pred.png"
    assert visible(text) == text and fs_name(text) == text


def test_indented_continuation_lines_cannot_pass_for_report_lines() -> None:
    assert indent_lines("one\nCONFORMANT: forged", "    ") == "one\n    CONFORMANT: forged"


def test_visible_data_walks_keys_and_values() -> None:
    data = {"name\x1b": ["\udcff", ("x\x00",), 3, None], "n": 1.5}
    assert visible_data(data) == {"name\\x1b": ["\\xff", ["x\\x00"], 3, None], "n": 1.5}


_XML_OK = {0x9, 0xA, 0xD}


def _xml_legal(ch: str) -> bool:
    c = ord(ch)
    return (c >= 0x20 or c in _XML_OK) and not (0xD800 <= c <= 0xDFFF) and c not in (0xFFFE, 0xFFFF)


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_any_text_becomes_encodable_legal_xml_without_controls(text: str) -> None:
    shown = visible(text)
    shown.encode("utf-8")  # never raises: no lone surrogate is left
    assert all(_xml_legal(ch) for ch in shown)
    assert not any(ord(ch) < 0x20 and ch not in "\n\t" for ch in shown)
    one = visible(text, one_line=True)
    assert "\n" not in one and "\r" not in one
    json.loads(json.dumps(shown, ensure_ascii=False))


@given(st.binary(max_size=40))
def test_any_file_name_bytes_are_shown_on_one_line(raw: bytes) -> None:
    shown = fs_name(raw.replace(b"/", b"_"))
    shown.encode("utf-8")
    assert all(ord(ch) >= 0x20 for ch in shown)
