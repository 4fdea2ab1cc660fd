"""Progress-line parsing: the exact ``[Process: k/N]`` line and the near misses that PRG002 reports.

Decision (documented in docs/harness.md): a progress line is exactly ``[Process: k/N]`` with nothing before or
after it on the line. The line terminator is ``\\n``; one ``\\r`` right before it (a ``\\r\\n`` ending, as
Windows-minded code writes) is treated as part of the terminator, because the platform reads lines and a
trailing carriage return does not change what it sees. Any other difference (case, spaces, text around the
brackets, a ``\\r`` inside the line as progress bars write) makes the line a near miss.
"""

from __future__ import annotations

import re

from pie_conformance.facts import ProgressLine

__all__ = ["EXACT", "NEAR", "ProgressLine", "classify", "strip_terminator"]

#: The one accepted form: k and N are unsigned ASCII decimal integers (at most 9 digits) without a sign or
#: spaces. The kit's probe in the script (harness/_probe/sitecustomize.py) applies the same test to the
#: bytes it writes; the two must agree line for line.
EXACT = re.compile(r"\[Process: ([0-9]{1,9})/([0-9]{1,9})\]")
#: "Looks like a progress line": the word process (any case) followed by k/N, possibly spaced.
#: The word must stand alone so that "Processing batch 3/10" is not taken for one.
NEAR = re.compile(r"(?i)\bprocess\b\s*[:=]?\s*(\d+)\s*/\s*(\d+)")


def strip_terminator(raw: bytes) -> bytes:
    """The line without its ``\\n`` and one ``\\r`` right before it."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw


def classify(raw: bytes, line_no: int, elapsed: float = 0.0) -> ProgressLine | None:
    """Classify one stdout line (bytes, terminator included or not): exact, near miss, or None."""
    body = strip_terminator(raw)
    # Cheap pre-filter: most lines of a training log never mention the word at all.
    if b"rocess" not in body and b"ROCESS" not in body:
        return None
    text = body.decode("utf-8", errors="replace")
    m = EXACT.fullmatch(text)
    if m:
        return ProgressLine(line_no, text, int(m.group(1)), int(m.group(2)), True, elapsed)
    near = NEAR.search(text)
    if near:
        shown = text if len(text) <= 200 else text[:197] + "..."
        return ProgressLine(line_no, shown, int(near.group(1)), int(near.group(2)), False, elapsed)
    return None
