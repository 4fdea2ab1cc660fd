"""The trainlog checker: LOG001-LOG010 on snapshots of ``output/trainlog.json``, incrementally.

The harness calls :meth:`TrainlogChecker.check` at every progress line, each time with the whole file. A
script rewrites the whole file every epoch, so checking each snapshot from scratch would cost O(k) at
epoch k and O(N^2) over a run. The checker instead:

- remembers the bytes of the previous snapshot and the offset where its last epoch entry ended; when the
  new snapshot starts with the same bytes (the usual case: the log only grows), only what follows is
  decoded and parsed, so the unchanged prefix costs one ``memcmp``;
- judges each epoch entry once: results are cached by the entry's exact text, so an entry that reappears
  unchanged (even when the prefix changed, e.g. ``best`` written before ``epochs``) is not judged again;
- judges the small rest (``training_id``, times, numbering, ``best``) at every snapshot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pie_conformance._jsonio import MAX_BYTES, STRICT_DECODER, StrictJSONError, describe_decode_error
from pie_conformance.findings import Finding
from pie_conformance.rules import Phase, Rule, evaluate, rules_for
from pie_conformance.rules.log import (
    TRAINLOG_PATH,
    EpochEntry,
    LogDocument,
    LogFile,
    epoch_number,
)
from pie_conformance.traincfg import TrainCfg

__all__ = ["TrainlogChecker", "parse_trainlog", "with_scenario"]

_WS = re.compile(r"[ \t\n\r]*")


class _Syntax(Exception):
    """Not strict JSON; ``str()`` is the plain reason."""


@dataclass
class _Parsed:
    """A trainlog cut into pieces: members before the epochs array, its entries (text, value), the rest."""

    top: Any = None  # the value when the document is not an object
    is_object: bool = False
    head: list[tuple[str, Any]] | None = None
    entries: list[tuple[str, Any]] | None = None  # None when there is no epochs array to cut up
    tail: list[tuple[str, Any]] | None = None
    resume_char: int = -1  # char offset just after the last entry (or after "[" when none); -1: no array
    after_element: bool = False
    resumed: int = 0  # entries holds only what follows this many entries of the previous snapshot


def _fail(msg: str, s: str, pos: int) -> _Syntax:
    lineno = s.count("\n", 0, pos) + 1
    colno = pos - (s.rfind("\n", 0, pos) + 1) + 1
    return _Syntax(f"{msg} at line {lineno}, column {colno}")


def _value(s: str, pos: int) -> tuple[Any, int]:
    try:
        return STRICT_DECODER.raw_decode(s, pos)
    except json.JSONDecodeError as exc:
        raise _Syntax(describe_decode_error(exc)) from None
    except StrictJSONError as exc:
        raise _fail(str(exc), s, pos) from None
    except ValueError as exc:  # e.g. an integer over Python's 4300-digit conversion limit
        raise _fail(f"a value cannot be read ({exc})", s, pos) from None
    except RecursionError:
        raise _fail("nested too deeply to read", s, pos) from None


def _skip(s: str, pos: int) -> int:
    return _WS.match(s, pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string


def _elements(s: str, pos: int, out: list[tuple[str, Any]], after_element: bool) -> tuple[int, int]:
    """Parse epochs array elements from ``pos`` up to and past its "]"; returns (end of last element, pos)."""
    last_end = pos
    while True:
        pos = _skip(s, pos)
        ch = s[pos : pos + 1]
        if after_element:
            if ch == "]":
                return last_end, pos + 1
            if ch != ",":
                raise _fail("expected ',' or ']' after an epoch entry", s, pos)
            pos = _skip(s, pos + 1)
        elif ch == "]" and not out:
            return last_end, pos + 1
        start = pos
        value, pos = _value(s, pos)
        out.append((s[start:pos], value))
        last_end, after_element = pos, True


def _end(s: str, pos: int) -> None:
    pos = _skip(s, pos)
    if pos != len(s):
        raise _fail("unexpected data after the JSON document (trailing garbage)", s, pos)


def _decode(raw: bytes, offset: int = 0) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Syntax(f"not UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {offset + exc.start}") from None


def _parse_full(s: str) -> _Parsed:
    parsed = _Parsed()
    if s.startswith("\ufeff"):
        raise _Syntax("starts with a byte order mark (write UTF-8 without BOM)")
    pos = _skip(s, 0)
    if pos == len(s):
        raise _Syntax("the file is empty")
    if s[pos] != "{":
        parsed.top, pos = _value(s, pos)
        _end(s, pos)
        return parsed
    parsed.is_object = True
    parsed.head = []
    pos = _members(s, pos + 1, parsed, first=True)
    _end(s, pos)
    return parsed


def _members(s: str, pos: int, parsed: _Parsed, first: bool) -> int:
    """Parse object members from ``pos`` up to and past the closing "}", cutting the epochs array up."""
    while True:
        pos = _skip(s, pos)
        if first and s[pos : pos + 1] == "}":
            return pos + 1
        if s[pos : pos + 1] != '"':
            raise _fail("expected a member name in double quotes", s, pos)
        key, pos = _value(s, pos)
        pos = _skip(s, pos)
        if s[pos : pos + 1] != ":":
            raise _fail("expected ':' after a member name", s, pos)
        pos = _skip(s, pos + 1)
        if key == "epochs" and s[pos : pos + 1] == "[" and parsed.tail is None:
            entries: list[tuple[str, Any]] = []
            open_end = pos + 1
            last_end, pos = _elements(s, open_end, entries, False)
            parsed.entries, parsed.tail = entries, []
            parsed.resume_char = last_end if entries else open_end
            parsed.after_element = bool(entries)
        else:
            value, pos = _value(s, pos)
            if key == "epochs" and parsed.tail is not None:
                # A second "epochs" member: JSON keeps the last one, and so does this reader.
                parsed.entries, parsed.resume_char = None, -1
            (parsed.tail if parsed.tail is not None else parsed.head).append((key, value))  # type: ignore[union-attr]
        pos = _skip(s, pos)
        ch = s[pos : pos + 1]
        if ch == "}":
            return pos + 1
        if ch != ",":
            raise _fail("expected ',' or '}' after a member", s, pos)
        pos += 1
        first = False


def parse_trainlog(raw: bytes) -> Any:
    """Parse a trainlog as strict UTF-8 JSON (StrictJSONError, a ValueError, with the reason otherwise)."""
    try:
        parsed = _parse_full(_decode(raw))
    except _Syntax as exc:
        raise StrictJSONError(str(exc)) from None
    return _assemble(parsed)


def _assemble(parsed: _Parsed) -> Any:
    if not parsed.is_object:
        return parsed.top
    doc: dict[str, Any] = dict(parsed.head or ())
    if parsed.entries is not None:
        doc["epochs"] = [value for _, value in parsed.entries]
    doc.update(parsed.tail or ())
    return doc


@dataclass(frozen=True)
class _Judged:
    """One epoch entry's text, value, number and problems (epoch filled in when findings are made)."""

    text: str
    value: Any
    number: int | None
    findings: tuple[Finding, ...]  # without their epoch, which depends on the entry's place


class TrainlogChecker:
    """Checks successive snapshots of one run's trainlog (LOG001-LOG010), judging each epoch entry once."""

    def __init__(
        self,
        traincfg: Mapping[str, Any] | None = None,
        *,
        run_window: tuple[datetime, datetime] | None = None,
        path: str = TRAINLOG_PATH,
        scenario: str | None = None,
        rules: Iterable[Rule] | None = None,
    ) -> None:
        """``traincfg``: the run's config (training_id, class_name); ``run_window``: its (start, end).

        ``rules``: the LOG rules to judge by, by default those of the registry for ``scenario`` (None: an
        offline file, where LOG001 has nothing to say).
        """
        self.traincfg = TrainCfg.from_mapping(traincfg) if isinstance(traincfg, Mapping) else None
        self.run_window = run_window
        self.path = path
        self._rules: tuple[Rule, ...] = tuple(rules) if rules is not None else rules_for(
            Phase.LOG, scenario=scenario)
        names = self.traincfg.class_names if self.traincfg else None
        # A per-class entry may name its class by class_name or by the same label's class_title.
        labels = (self.traincfg.labels if self.traincfg else None) or []
        titles = [str(lab["class_title"]) for lab in labels
                  if isinstance(lab, dict) and isinstance(lab.get("class_title"), str)]
        self._class_names = tuple(dict.fromkeys([*names, *titles])) if names else None
        self.first_create_time: str | None = None
        # Incremental state: the previous snapshot, where its epochs array can be resumed, what it held.
        self._prev: bytes | None = None
        self._resume_byte = -1
        self._after_element = False
        self._head: list[tuple[str, Any]] = []
        self._judged: list[_Judged] = []
        self._values: list[Any] = []  # the entries' values, the document's "epochs"
        self._numbers: list[int | None] = []
        self._entry_findings: list[Finding] = []
        self._signature: tuple[frozenset[str] | None, tuple[str, ...] | None] | None = None

    # -- public --------------------------------------------------------------------------------------------

    def check(
        self, raw: bytes | None, *, progress_k: int | None = None, final: bool = False
    ) -> list[Finding]:
        """All findings on this snapshot of the file (``raw=None``: the file is missing, LOG001).

        ``progress_k``: the highest k announced so far; the log must hold at least k entries (exactly k with
        ``final``: entries beyond k in a mid-run snapshot are the next epochs, written before it was taken).
        ``final``: the run has ended, so ``end_time`` must be set.
        """
        if raw is None:
            return self._findings(LogFile(missing=True, path=self.path))
        raw = bytes(raw)
        if len(raw) > MAX_BYTES:
            return self._findings(
                LogFile(syntax_error=f"the file is {len(raw)} bytes, over the limit of {MAX_BYTES}",
                        path=self.path)
            )
        try:
            parsed = self._parse(raw)
        except _Syntax as exc:
            self._forget()
            return self._findings(LogFile(syntax_error=str(exc), path=self.path))
        return self._judge(parsed, progress_k=progress_k, final=final)

    def check_object(self, doc: Any, *, progress_k: int | None = None, final: bool = False) -> list[Finding]:
        """All findings on an already-parsed trainlog (no LOG001/LOG002: there is no file to read)."""
        parsed = _Parsed(top=doc, is_object=isinstance(doc, dict))
        if isinstance(doc, dict):
            parsed.head = [(k, v) for k, v in doc.items() if k != "epochs"]
            epochs = doc.get("epochs")
            if isinstance(epochs, list):
                # No text to key the cache by: each entry is judged afresh.
                parsed.entries = [("", value) for value in epochs]
                parsed.tail = []
            elif "epochs" in doc:
                parsed.head.append(("epochs", epochs))
        self._forget()
        return self._judge(parsed, progress_k=progress_k, final=final)

    # -- parsing -------------------------------------------------------------------------------------------

    def _forget(self) -> None:
        self._prev, self._resume_byte = None, -1

    def _parse(self, raw: bytes) -> _Parsed:
        prev, at = self._prev, self._resume_byte
        if prev is not None and at > 0 and len(raw) >= at and raw.startswith(memoryview(prev)[:at]):
            try:
                return self._parse_resumed(raw, at)
            except _Syntax:
                pass  # parse the whole file again, so the message says where in the file
        return self._parse_whole(raw)

    def _parse_whole(self, raw: bytes) -> _Parsed:
        s = _decode(raw)
        parsed = _parse_full(s)
        self._prev = raw
        if parsed.entries is not None and parsed.resume_char >= 0:
            head = s[: parsed.resume_char]
            self._resume_byte = len(head) if raw.isascii() else len(head.encode("utf-8"))
            self._after_element = parsed.after_element
        else:
            self._resume_byte = -1
        self._head = list(parsed.head or ())
        return parsed

    def _parse_resumed(self, raw: bytes, at: int) -> _Parsed:
        # The bytes up to `at` are those of the previous snapshot: the members before "epochs" and every
        # entry judged then are unchanged, and parsing resumes inside the epochs array.
        t = _decode(raw[at:], offset=at)
        new: list[tuple[str, Any]] = []
        last_end, pos = _elements(t, 0, new, self._after_element)
        parsed = _Parsed(is_object=True, head=list(self._head), tail=[])
        pos = _skip(t, pos)
        if t[pos : pos + 1] == ",":
            pos = _members(t, pos + 1, parsed, first=False)
        elif t[pos : pos + 1] == "}":
            pos += 1
        else:
            raise _fail("expected ',' or '}' after a member", t, pos)
        _end(t, pos)
        if any(key == "epochs" for key, _ in parsed.tail or ()):
            raise _Syntax("a second epochs member: parse the whole file")  # JSON keeps the last one
        parsed.entries, parsed.resumed = new, len(self._judged)
        self._prev = raw
        if new:
            head = t[:last_end]
            self._resume_byte = at + (len(head) if head.isascii() else len(head.encode("utf-8")))
            self._after_element = True
        return parsed

    # -- judging -------------------------------------------------------------------------------------------

    def _findings(self, piece: Any, epoch: int | None = None) -> list[Finding]:
        return list(evaluate(self._rules, piece, epoch=epoch))

    def _judge_entry(self, text: str, value: Any) -> _Judged:
        keys = self._signature[0] if self._signature else None
        piece = EpochEntry(value, keys, self._class_names, self.path)
        return _Judged(text, value, epoch_number(value), tuple(evaluate(self._rules, piece)))

    def _append(self, judged: _Judged) -> None:
        epoch = judged.number if judged.number is not None else len(self._judged) + 1
        self._judged.append(judged)
        self._values.append(judged.value)
        self._numbers.append(judged.number)
        self._entry_findings.extend(
            f if f.epoch is not None else replace(f, epoch=epoch) for f in judged.findings)

    def _reset_entries(self) -> None:
        self._judged, self._values, self._numbers, self._entry_findings = [], [], [], []

    def _judge(self, parsed: _Parsed, *, progress_k: int | None, final: bool) -> list[Finding]:
        """Findings of the snapshot, judging only entries not judged before."""
        resumed = parsed.resumed
        head = dict(parsed.head or ())
        tail = dict(parsed.tail or ())
        desc = tail.get("description", head.get("description"))
        signature = (frozenset(desc) if isinstance(desc, dict) else None, self._class_names)
        entries = parsed.entries
        if signature != self._signature and resumed:
            # Entry verdicts depend on description: judge the kept entries again too.
            entries = [(j.text, j.value) for j in self._judged] + (entries or [])
            resumed = 0
        if signature != self._signature:
            self._signature = signature  # entry verdicts depend on description: judge them all again
            resumed = 0
            cache: dict[str, _Judged] = {}
        elif resumed:
            cache = {}
        else:
            cache = {j.text: j for j in self._judged if j.text}
        if not resumed:
            self._reset_entries()
        for text, value in entries or ():
            hit = cache.get(text) if text else None
            self._append(hit if hit is not None else self._judge_entry(text, value))

        if parsed.is_object:
            top: Any = head
            if entries is not None:
                top["epochs"] = self._values
            top.update(tail)
        else:
            top = parsed.top
        if entries is None:
            self._reset_entries()
        create_time = top.get("create_time") if isinstance(top, dict) else None
        document = LogDocument(
            top=top,
            epoch_numbers=tuple(self._numbers),
            traincfg=self.traincfg,
            progress_k=progress_k,
            final=final,
            run_window=self.run_window,
            first_create_time=self.first_create_time,
            path=self.path,
        )
        findings = self._findings(document)
        findings.extend(self._entry_findings)
        if self.first_create_time is None and isinstance(create_time, str):
            self.first_create_time = create_time
        return findings


def with_scenario(findings: list[Finding], scenario: str) -> list[Finding]:
    """The findings with their scenario set (the checker leaves it to the caller)."""
    return [replace(f, scenario=scenario) for f in findings]
