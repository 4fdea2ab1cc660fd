"""Reading the aiUtils events file: every event back, in order, and nothing from lines that are not events."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pie_conformance import aiutils_events
from pie_conformance.aiutils_events import (
    EVENTS_VAR,
    QUIRK_HINTS,
    AiUtilsEvent,
    parse_event_line,
    read_events,
)
from pie_conformance.s3 import AIUTILS_PATH, aiutils_env


def _shim() -> ModuleType:
    module_file = Path(AIUTILS_PATH) / "aiUtils" / "aiUtils.py"
    spec = importlib.util.spec_from_file_location("_shim_events", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shim_and_the_reader_agree_on_names() -> None:
    shim = _shim()
    assert shim.EVENTS_VAR == EVENTS_VAR
    assert tuple(QUIRK_HINTS) == shim.QUIRKS
    assert all(hint.strip() for hint in QUIRK_HINTS.values())


def test_aiutils_env_names_the_events_file(tmp_path: Path) -> None:
    env = aiutils_env("http://127.0.0.1:9", {}, events_file=tmp_path / "e.jsonl")
    assert env[EVENTS_VAR] == str((tmp_path / "e.jsonl").resolve())
    assert EVENTS_VAR not in aiutils_env("http://127.0.0.1:9", {})


def test_junk_lines_are_skipped(tmp_path: Path) -> None:
    good = {"call": "downS3Weight", "quirk": "reversed-arguments", "detail": "d", "args": ["s3://b/k", "/w"]}
    lines = [
        json.dumps(good),
        "not json at all",
        '{"call": "getImages", "quirk": "substring-exten',  # cut short by a killed process
        "[1, 2, 3]",
        json.dumps({"call": "getImages"}),  # no quirk
        json.dumps({"call": "", "quirk": "x"}),
        json.dumps({"call": 3, "quirk": "x"}),
        json.dumps({"call": "getImages", "quirk": "xml-keeps-every-key", "detail": 5, "args": "p"}),
        json.dumps({"call": "getImages", "quirk": "case-sensitive-extension", "args": [{"a": 1}, None, 2.5]}),
        "",
        json.dumps(good),  # the same event again (e.g. from a DataLoader worker): read once
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe binary junk\n")
    assert read_events(path) == (
        AiUtilsEvent("downS3Weight", "reversed-arguments", "d", ("s3://b/k", "/w")),
        AiUtilsEvent("getImages", "xml-keeps-every-key", "", ()),
        AiUtilsEvent("getImages", "case-sensitive-extension", "", ('{"a": 1}', None, 2.5)),
    )


def test_missing_or_unreadable_files_give_no_events(tmp_path: Path) -> None:
    assert read_events(tmp_path / "nothing.jsonl") == ()
    assert read_events(tmp_path) == ()  # a folder


def test_hints(tmp_path: Path) -> None:
    assert "local path FIRST" in AiUtilsEvent("downS3Weight", "reversed-arguments", "").hint
    assert AiUtilsEvent("x", "not-a-quirk", "").hint == ""


def test_the_reader_stops_at_its_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiutils_events, "MAX_EVENTS", 3)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"call": "c", "quirk": f"q{i}"}) + "\n" for i in range(10)))
    assert [e.quirk for e in read_events(path)] == ["q0", "q1", "q2"]
    monkeypatch.setattr(aiutils_events, "MAX_BYTES", 10)
    assert read_events(path) == ()  # the first line is longer than what is read


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_no_line_makes_the_parser_raise(line: str) -> None:
    event = parse_event_line(line)
    assert event is None or (event.call and event.quirk)


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.lists(st.integers(), max_size=3))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["getImages", "pullImage"]), st.sampled_from(sorted(QUIRK_HINTS)),
                  st.text(max_size=50), st.lists(_values, max_size=3)),
        max_size=6,
    )
)
def test_what_the_shim_writes_the_reader_reads(tmp_path_factory: pytest.TempPathFactory,
                                               calls: list[tuple[str, str, str, list[object]]]) -> None:
    shim = _shim()  # a fresh module: its memory of lines already written starts empty
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(EVENTS_VAR, str(path))
        for call, quirk, detail, args in calls:
            shim._record(call, quirk, detail, args)
    expected: list[AiUtilsEvent] = []
    for call, quirk, detail, args in calls:
        plain = tuple(a if not isinstance(a, list) else repr(a) for a in args)
        event = AiUtilsEvent(call, quirk, detail, plain)  # type: ignore[arg-type]
        if event not in expected:
            expected.append(event)
    assert list(read_events(path)) == expected
