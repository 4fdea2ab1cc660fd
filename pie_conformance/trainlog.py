"""The trainlog checker: LOG001-LOG010 on snapshots of ``output/trainlog.json``, incrementally.

The harness calls :meth:`TrainlogChecker.check` at every progress line, each time with the whole file. A
script rewrites the whole file every epoch, so checking each snapshot from scratch would cost O(k) at
epoch k and O(N^2) over a run. The checker instead:

- keeps the bytes it judged, up to where the last epoch entry ended; when the new snapshot starts with
  the same bytes (the usual case: the log only grows), only what follows is decoded and parsed;
- proves that prefix unchanged at a cost that does not grow with the log: a prefix of up to
  ``VERIFY_WHOLE`` bytes, and every prefix at the ``final`` check, is compared whole; a longer one is
  compared at its head (the members before ``epochs``), over the ``VERIFY_BOUNDARY`` bytes before the
  last judged byte (the entries a script is likeliest to rewrite, the last one always whole) and over one
  slice that moves on at every check by ``VERIFY_SWEEP`` bytes plus what the log grew, so a rewrite deeper
  in a long log is still found, at the latest when the slice has come round (about the log's size /
  ``VERIFY_SWEEP`` progress lines), and always at the ``final`` check;
- judges each epoch entry once: results are cached by the entry's exact text, so an entry that reappears
  unchanged (even when the prefix changed, e.g. ``best`` written before ``epochs``) is not judged again;
- judges the small rest (``training_id``, times, numbering, ``best``) at every snapshot.

:meth:`TrainlogChecker.check_once` checks one whole file (``pie-check validate-log``) in one streaming
pass: the text is decoded a window at a time and each entry is judged and dropped as soon as it is
parsed, so memory stays near the file's own size whatever the log holds.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
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
_BOM = b"\xef\xbb\xbf"

_Emit = Callable[[str, Any], None]  # receives each epoch entry: (its text, its value)


class _Syntax(Exception):
    """Not strict JSON; ``str()`` is the plain reason."""


class _Fallback(Exception):
    """The streaming pass cannot decide this file alone (not an object, not strict JSON, a BOM)."""


@dataclass
class _Parsed:
    """A trainlog cut into pieces: members before the epochs array, its entries (text, value), the rest."""

    top: Any = None  # the value when the document is not an object
    is_object: bool = False
    head: list[tuple[str, Any]] | None = None
    entries: list[tuple[str, Any]] | None = None  # None when there is no epochs array to cut up
    tail: list[tuple[str, Any]] | None = None
    resume_char: int = -1  # char offset just after the last entry (or after "[" when none); -1: no array
    open_char: int = -1  # char offset just after the epochs array's "["
    last_char: int = -1  # char offset where the last entry begins (open_char when there is none)
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


def _element(s: str, pos: int, after_element: bool) -> tuple[Any, int, int] | int:
    """The next epochs array element from ``pos``: (value, its start, its end), or the position past "]"."""
    pos = _skip(s, pos)
    ch = s[pos : pos + 1]
    if after_element:
        if ch == "]":
            return pos + 1
        if ch != ",":
            raise _fail("expected ',' or ']' after an epoch entry", s, pos)
        pos = _skip(s, pos + 1)
    elif ch == "]":
        return pos + 1
    start = pos
    value, pos = _value(s, pos)
    return value, start, pos


def _elements(s: str, pos: int, emit: _Emit | None, after_element: bool) -> tuple[int, int]:
    """Parse epochs array elements from ``pos`` up to and past its "]"; returns (end of last element, pos).

    ``emit`` receives each element's text and value (None: the elements are only checked).
    """
    last_end = pos
    while True:
        step = _element(s, pos, after_element)
        if isinstance(step, int):
            return last_end, step
        value, start, pos = step
        if emit is not None:
            emit(s[start:pos], value)
        last_end, after_element = pos, True


def _collect(into: list[tuple[str, Any]]) -> _Emit:
    """An emit that appends each entry's (text, value) to ``into``."""
    return lambda text, value: into.append((text, value))


def _end(s: str, pos: int) -> None:
    pos = _skip(s, pos)
    if pos != len(s):
        raise _fail("unexpected data after the JSON document (trailing garbage)", s, pos)


def _decode(raw: bytes, offset: int = 0) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Syntax(f"not UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {offset + exc.start}") from None


def _parse_full(s: str, keep_entries: bool = True) -> _Parsed:
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
    pos = _members(s, pos + 1, parsed, first=True, keep_entries=keep_entries)
    _end(s, pos)
    return parsed


def _member_key(s: str, pos: int, first: bool) -> tuple[str, int] | int:
    """The next member's key and the position of its value, or the position past the closing "}"."""
    pos = _skip(s, pos)
    if first and s[pos : pos + 1] == "}":
        return pos + 1
    if s[pos : pos + 1] != '"':
        raise _fail("expected a member name in double quotes", s, pos)
    key, pos = _value(s, pos)
    pos = _skip(s, pos)
    if s[pos : pos + 1] != ":":
        raise _fail("expected ':' after a member name", s, pos)
    return key, _skip(s, pos + 1)


def _after_member(s: str, pos: int) -> tuple[bool, int]:
    """(True when the object ends here, the position past "}" or ",")."""
    pos = _skip(s, pos)
    ch = s[pos : pos + 1]
    if ch == "}":
        return True, pos + 1
    if ch != ",":
        raise _fail("expected ',' or '}' after a member", s, pos)
    return False, pos + 1


def _members(s: str, pos: int, parsed: _Parsed, first: bool, keep_entries: bool = True) -> int:
    """Parse object members from ``pos`` up to and past the closing "}", cutting the epochs array up."""
    while True:
        step = _member_key(s, pos, first)
        if isinstance(step, int):
            return step
        key, pos = step
        if key == "epochs" and s[pos : pos + 1] == "[" and parsed.tail is None:
            entries: list[tuple[str, Any]] = []
            open_end = pos + 1
            last_end, pos = _elements(s, open_end, _collect(entries) if keep_entries else None, False)
            parsed.entries, parsed.tail = entries, []
            parsed.resume_char = last_end if entries else open_end
            parsed.open_char = open_end
            parsed.last_char = last_end - len(entries[-1][0]) if entries else open_end
            parsed.after_element = bool(entries)
        else:
            value, pos = _value(s, pos)
            if key == "epochs" and parsed.tail is not None:
                # A second "epochs" member: JSON keeps the last one, and so does this reader.
                parsed.entries, parsed.resume_char = None, -1
            (parsed.tail if parsed.tail is not None else parsed.head).append((key, value))  # type: ignore[union-attr]
        done, pos = _after_member(s, pos)
        if done:
            return pos
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


def _byte_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# -- streaming: one pass over a whole file --------------------------------------------------------------


class _Window:
    """The strict UTF-8 text of a buffer, decoded a window at a time; a step that fails is retried wider."""

    def __init__(self, raw: bytes, chunk: int) -> None:
        self._view = memoryview(raw)
        self._size = len(raw)
        self._chunk = chunk
        self._byte = 0  # the first byte not yet decoded
        self.text = ""
        self.eof = self._size == 0

    def _grow(self, keep: int) -> None:
        """Drop the text before ``keep``; decode at least one more chunk (as much again as is kept)."""
        want = max(self._chunk, 4, len(self.text) - keep)  # 4: room for one whole character
        end = min(self._size, self._byte + want)
        final = end == self._size
        try:
            new, used = codecs.utf_8_decode(self._view[self._byte : end], "strict", final)
        except UnicodeDecodeError:
            raise _Fallback("not UTF-8") from None
        self._byte += used
        self.eof = self._byte == self._size
        rest, self.text = self.text[keep:], ""  # the old window goes before the new one is made
        self.text = rest + new

    def run(self, step: Callable[[str, int], Any], pos: int) -> tuple[Any, int]:
        """``step(text, pos)`` on a window wide enough that its answer is the whole text's: (answer, pos).

        A step raises _Syntax when the window's text does not decide it (a value cut at the window's end
        looks broken); the window then grows and the step runs again from the same point. At the end of
        the file a _Syntax is real, and the file is handed back whole (_Fallback) for the exact message.
        The returned position is in the window's text as it is after the call.
        """
        while True:
            try:
                return step(self.text, pos), pos
            except _Syntax:
                if self.eof:
                    raise _Fallback("not strict JSON") from None
            self._grow(pos)
            pos = 0


_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


def _complete(window: _Window, text: str, end: int) -> None:
    """A number cut by the window's edge reads as a shorter one ("12" of "125", "1" of "1e-5", the "e-"
    left over): while only number characters follow up to the edge, only more text decides."""
    if not window.eof and _NUMBER_TAIL.fullmatch(text, end):
        raise _Syntax("cut at the window's end")


def _stream_parse(raw: bytes, on_array: Callable[[list[tuple[str, Any]]], None],
                  on_entry: Callable[[Any], None], chunk: int) -> _Parsed:
    """The pieces of a trainlog that is a strict JSON object, entries handed to ``on_entry`` one by one.

    ``parsed.entries`` is [] when an epochs array was cut up (its entries went to ``on_entry``; ``on_array``
    saw the members before it first), None when there was none. Raises _Fallback for anything else: a
    document that is not an object, not strict JSON, not UTF-8 or that starts with a byte order mark.
    """
    if raw.startswith(_BOM):
        raise _Fallback("byte order mark")
    window = _Window(raw, chunk)

    def start(s: str, pos: int) -> int:
        pos = _skip(s, pos)
        if s[pos : pos + 1] != "{":
            if pos < len(s):
                raise _Fallback("not an object")
            raise _Syntax("no text yet")
        return pos + 1

    def key_step(s: str, p: int, first: bool) -> tuple[str, int] | int:
        step = _member_key(s, p, first)
        if not isinstance(step, int) and step[1] >= len(s) and not window.eof:
            raise _Syntax("the value is past the window")  # "[" or not decides how it is read
        return step

    def element_step(s: str, p: int, after: bool) -> tuple[Any, int, int] | int:
        got = _element(s, p, after)
        if not isinstance(got, int):
            _complete(window, s, got[2])
        return got

    def value_step(s: str, p: int) -> tuple[Any, int]:
        value, end = _value(s, p)
        _complete(window, s, end)
        return value, end

    def end_step(s: str, p: int) -> None:
        _end(s, p)
        if not window.eof:
            raise _Syntax("more text may follow")

    pos, _ = window.run(start, 0)
    parsed = _Parsed(is_object=True, head=[])
    first = True
    while True:
        step, pos = window.run(partial(key_step, first=first), pos)
        if isinstance(step, int):
            pos = step
            break
        key, pos = step
        if key == "epochs" and window.text[pos : pos + 1] == "[" and parsed.tail is None:
            on_array(parsed.head or [])
            pos += 1
            after = False
            while True:
                got, _ = window.run(partial(element_step, after=after), pos)
                if isinstance(got, int):
                    pos = got
                    break
                value, _, pos = got
                on_entry(value)
                after = True
            parsed.entries, parsed.tail = [], []
        else:
            (value, pos), _ = window.run(value_step, pos)
            if key == "epochs" and parsed.tail is not None:
                parsed.entries = None  # a second "epochs" member: JSON keeps the last one
            (parsed.tail if parsed.tail is not None else parsed.head).append((key, value))  # type: ignore[union-attr]
        (done, pos), _ = window.run(_after_member, pos)
        if done:
            break
        first = False
    window.run(end_step, pos)
    return parsed


def _standin(entry: Any) -> Any:
    """What the document rules are shown of an entry a streaming pass judged: its ``epoch`` member only."""
    if isinstance(entry, dict):
        return {"epoch": entry["epoch"]} if "epoch" in entry else {}
    return entry


class _JudgedBytes:
    """The judged prefix's bytes as they were read: a rewrite is told from these, never from a snapshot
    whose prefix was only partly compared (it may already hold the rewrite)."""

    def __init__(self, raw: bytes, end: int) -> None:
        self._buf = bytearray(memoryview(raw)[:end])
        self.size = end

    def extend(self, raw: bytes, start: int, end: int) -> None:
        """Append ``raw[start:end]``, the bytes judged next (room doubles, so appending costs O(new))."""
        need = self.size + end - start
        if need > len(self._buf):
            self._buf.extend(bytes(max(need, 2 * len(self._buf)) - len(self._buf)))
        self._buf[self.size : need] = memoryview(raw)[start:end]
        self.size = need

    def matches(self, raw: bytes, start: int, end: int) -> bool:
        """Whether ``raw[start:end]`` holds the same bytes (one memcmp)."""
        return raw.startswith(memoryview(self._buf)[start:end], start)


@dataclass(frozen=True)
class _Judged:
    """One epoch entry's text, value, number and problems (epoch filled in when findings are made)."""

    text: str
    value: Any
    number: int | None
    findings: tuple[Finding, ...]  # without their epoch, which depends on the entry's place


class TrainlogChecker:
    """Checks successive snapshots of one run's trainlog (LOG001-LOG010), judging each epoch entry once."""

    #: A judged prefix up to this many bytes is compared whole at every check.
    VERIFY_WHOLE = 1 << 20
    #: Beyond that, the bytes just before the last judged byte compared at every check...
    VERIFY_BOUNDARY = 1 << 16
    #: ...with the members before "epochs" (up to this many bytes)...
    VERIFY_HEAD = 1 << 16
    #: ...and one slice of this many bytes that moves on through the prefix from check to check.
    VERIFY_SWEEP = 1 << 18
    #: Bytes check_once decodes at a time (its window grows past that only for one larger value).
    STREAM_CHUNK = 1 << 20

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
        self._ref: _JudgedBytes | None = None  # the bytes up to _resume_byte, as judged
        self._resume_byte = -1
        self._open_byte = -1  # where the previous snapshot's epochs array began (just past "[")
        self._last_entry_byte = -1  # where its last entry began
        self._sweep = 0  # where the next slice of the prefix is compared
        self._swept_at = 0  # the judged prefix's length at the last comparison
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
            return self._too_big(raw)
        try:
            parsed = self._parse(raw, final)
        except _Syntax as exc:
            self._forget()
            return self._findings(LogFile(syntax_error=str(exc), path=self.path))
        return self._judge(parsed, progress_k=progress_k, final=final)

    def check_once(
        self, raw: bytes | None, *, progress_k: int | None = None, final: bool = False
    ) -> list[Finding]:
        """The findings of :meth:`check` on one whole file, in one streaming pass that keeps no entry.

        Memory stays near the size of ``raw`` itself: each entry is judged and dropped once parsed. A file
        that is not a strict JSON object is judged by :meth:`check` (the findings are the same either way).
        The checker keeps no snapshot for a later :meth:`check` to resume from.
        """
        if raw is None:
            return self.check(None, progress_k=progress_k, final=final)
        raw = bytes(raw)
        if len(raw) > MAX_BYTES:
            return self._too_big(raw)
        self._forget()
        try:
            return self._check_streamed(raw, progress_k=progress_k, final=final)
        except _Fallback:
            pass
        return self._check_fallback(raw, progress_k=progress_k, final=final)

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

    def _check_fallback(self, raw: bytes, *, progress_k: int | None, final: bool) -> list[Finding]:
        """check_once on a file the streaming pass handed back: not strict JSON, or not an object."""
        self._reset_entries()
        try:  # the message of a file that is not strict JSON, without keeping its entries
            _parse_full(_decode(raw), keep_entries=False)
        except _Syntax as exc:
            return self._findings(LogFile(syntax_error=str(exc), path=self.path))
        return self.check(raw, progress_k=progress_k, final=final)  # strict JSON, but not an object

    def _too_big(self, raw: bytes) -> list[Finding]:
        why = f"the file is {len(raw)} bytes, over the limit of {MAX_BYTES}"
        return self._findings(LogFile(syntax_error=why, path=self.path))

    def _forget(self) -> None:
        self._ref, self._resume_byte, self._open_byte, self._last_entry_byte = None, -1, -1, -1
        self._sweep = self._swept_at = 0

    def _prefix_unchanged(self, raw: bytes, ref: _JudgedBytes, at: int, final: bool) -> bool:
        """Whether ``raw`` starts with the judged bytes, at a cost not growing with ``at`` (but final)."""
        if len(raw) < at:
            return False
        if final or at <= self.VERIFY_WHOLE:
            return ref.matches(raw, 0, at)
        head = min(max(self._open_byte, 0), self.VERIFY_HEAD, at)
        # The last judged entry whole, however long, and what precedes it up to VERIFY_BOUNDARY bytes.
        boundary = max(head, min(at - self.VERIFY_BOUNDARY, self._last_entry_byte))
        self._sweep = min(max(self._sweep, head), boundary)
        # The slice moves on by what the log grew since the last check (parsed anyway) and VERIFY_SWEEP
        # more, so it gains on the log and comes round however fast the log grows.
        grown = max(0, at - self._swept_at)
        sweep_end = min(boundary, self._sweep + self.VERIFY_SWEEP + grown)
        regions = ((0, head), (boundary, at), (self._sweep, sweep_end))
        unchanged = all(ref.matches(raw, a, b) for a, b in regions)
        # Once the slice reaches the boundary (itself compared at every check) it starts again at the head.
        self._sweep, self._swept_at = (head if sweep_end >= boundary else sweep_end), at
        return unchanged

    def _parse(self, raw: bytes, final: bool) -> _Parsed:
        ref, at = self._ref, self._resume_byte
        if ref is not None and at > 0 and self._prefix_unchanged(raw, ref, at, final):
            try:
                return self._parse_resumed(raw, at)
            except _Syntax:
                pass  # parse the whole file again, so the message says where in the file
        return self._parse_whole(raw)

    def _parse_whole(self, raw: bytes) -> _Parsed:
        s = _decode(raw)
        parsed = _parse_full(s)
        self._ref = None
        if parsed.entries is not None and parsed.resume_char >= 0:
            ascii_text = raw.isascii()
            self._resume_byte = parsed.resume_char if ascii_text else _byte_len(s[: parsed.resume_char])
            self._open_byte = parsed.open_char if ascii_text else _byte_len(s[: parsed.open_char])
            self._last_entry_byte = parsed.last_char if ascii_text else _byte_len(s[: parsed.last_char])
            self._after_element = parsed.after_element
            self._ref = _JudgedBytes(raw, self._resume_byte)
        else:
            self._resume_byte = self._open_byte = self._last_entry_byte = -1
        self._sweep, self._swept_at = 0, max(self._resume_byte, 0)
        self._head = list(parsed.head or ())
        return parsed

    def _parse_resumed(self, raw: bytes, at: int) -> _Parsed:
        # The bytes up to `at` are those of the previous snapshot: the members before "epochs" and every
        # entry judged then are unchanged, and parsing resumes inside the epochs array.
        t = _decode(raw[at:], offset=at)
        new: list[tuple[str, Any]] = []
        last_end, pos = _elements(t, 0, _collect(new), self._after_element)
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
        if new:
            self._last_entry_byte = at + _byte_len(t[: last_end - len(new[-1][0])])
            self._resume_byte = at + _byte_len(t[:last_end])
            self._after_element = True
            assert self._ref is not None  # resuming needs it
            self._ref.extend(raw, at, self._resume_byte)
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

    def _signature_of(
        self, head: Mapping[str, Any], tail: Mapping[str, Any]
    ) -> tuple[frozenset[str] | None, tuple[str, ...] | None]:
        """What an entry's verdict depends on besides the entry: description's keys and the class names."""
        desc = tail.get("description", head.get("description"))
        return (frozenset(desc) if isinstance(desc, dict) else None, self._class_names)

    def _judge(self, parsed: _Parsed, *, progress_k: int | None, final: bool) -> list[Finding]:
        """Findings of the snapshot, judging only entries not judged before."""
        resumed = parsed.resumed
        signature = self._signature_of(dict(parsed.head or ()), dict(parsed.tail or ()))
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
        return self._conclude(parsed, entries is not None, progress_k=progress_k, final=final)

    def _check_streamed(self, raw: bytes, *, progress_k: int | None, final: bool) -> list[Finding]:
        """check_once's pass; a description after "epochs" that differs from the one before needs two."""
        def on_entry(value: Any) -> None:
            self._append(replace(self._judge_entry("", value), value=_standin(value)))

        def before_entries(head: list[tuple[str, Any]]) -> None:
            self._signature = self._signature_of(dict(head), {})

        self._reset_entries()
        parsed = _stream_parse(raw, before_entries, on_entry, self.STREAM_CHUNK)
        signature = self._signature_of(dict(parsed.head or ()), dict(parsed.tail or ()))
        if parsed.entries is not None and signature != self._signature:
            # Entries were judged against description as it stood before "epochs": once more with the last.
            self._signature = signature
            self._reset_entries()
            parsed = _stream_parse(raw, lambda head: None, on_entry, self.STREAM_CHUNK)
        self._signature = signature
        return self._conclude(parsed, parsed.entries is not None, progress_k=progress_k, final=final)

    def _conclude(self, parsed: _Parsed, cut: bool, *, progress_k: int | None, final: bool) -> list[Finding]:
        """The document's findings (entries already judged) followed by the entries' own."""
        if parsed.is_object:
            top: Any = dict(parsed.head or ())
            if cut:
                top["epochs"] = self._values
            top.update(parsed.tail or ())
        else:
            top = parsed.top
        if not cut:
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
