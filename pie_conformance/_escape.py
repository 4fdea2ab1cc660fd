"""Escaping of text the script controls, so that every report shows it and none can be fooled or broken by it.

A script decides much of what a report quotes: its stderr, the names of the files it wrote (which may not
even be UTF-8), the text of its trainlog. Printed raw, an ANSI escape could paint a fake verdict on a
terminal, a carriage return could overwrite a line, a control character makes a JUnit file ill-formed XML,
and a file name decoded with ``surrogateescape`` makes a UTF-8 writer raise. Each writer passes that text
through :func:`visible` first: what cannot be shown as itself is shown as a Python-style escape (``\\x1b``,
``\\xff``, ``\\u202e``), which is readable, unambiguous and legal in every medium (text, XML, JSON, HTML).

Standard library only, and cheap to import: every report writer uses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pie_conformance.findings import Report

# What is escaped: C0 controls (but tab and newline, which multi-line text keeps), DEL and C1 controls,
# every surrogate (a lone one cannot be encoded; U+DC80..U+DCFF stands for an undecodable byte of a file
# name), the bidirectional overrides and isolates (they reorder what a terminal or page shows), and the two
# noncharacters XML forbids.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte the name really had
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: object, *, one_line: bool = False) -> str:
    """``text`` with every character a report must not emit raw shown as an escape (``\\x1b``).

    Newlines and tabs are kept unless ``one_line`` (then they are escaped too). Never raises: anything
    that is not a string is shown through ``str()``.
    """
    s = text if isinstance(text, str) else str(text)
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_escape_one, s)


def fs_name(name: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """A file name as a report shows it: decoded as the file system does, undecodable bytes as ``\\xNN``."""
    try:
        decoded = os.fsdecode(name)
    except (TypeError, ValueError):
        decoded = repr(name)
    return visible(decoded, one_line=True)


def indent_lines(text: str, prefix: str) -> str:
    """``text`` with every line after the first prefixed, so that no quoted line can pass for a line of the
    report itself (a forged verdict line is indented like the quote it is part of)."""
    return text.replace("\n", "\n" + prefix)


def visible_data(value: Any) -> Any:
    """A JSON-like structure (dicts, lists, tuples, strings, numbers) with every string passed through
    :func:`visible`, keys included; other objects are left for the writer's own ``default``."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, Mapping):
        return {visible(k) if isinstance(k, str) else k: visible_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [visible_data(v) for v in value]
    return value


def visible_report(report: Report) -> Report:
    """The report with every string the script could have put in it passed through :func:`visible_data`,
    for writers that quote findings as they are (GitHub annotations, SARIF)."""
    from pie_conformance.kept import report_from_dict

    escaped: Report = report_from_dict(visible_data(report.to_dict()))
    return escaped
