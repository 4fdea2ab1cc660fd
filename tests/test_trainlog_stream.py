"""``TrainlogChecker.check_once`` (the streaming pass of validate-log) against ``check`` (the whole parse).

Both paths are kept: on every input, valid or broken, the findings must be the same. The streaming pass
reads the text a window at a time; the tests shrink the window to a few bytes so that every value, key
and separator falls across a window's edge somewhere.
"""

from __future__ import annotations

import copy
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance import strategies as pst
from pie_conformance.trainlog import TrainlogChecker
from pie_conformance.validate import validate_trainlog

CASES = Path(__file__).parent / "cases" / "log"
GUIDE = json.loads((CASES / "pass" / "guide_example.json").read_text(encoding="utf-8"))
CFG = json.loads((CASES / "traincfg.json").read_text(encoding="utf-8"))
_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _chunked(chunk: int) -> type[TrainlogChecker]:
    return type("Chunked", (TrainlogChecker,), {"STREAM_CHUNK": chunk})


class _Streamed(TrainlogChecker):
    """A checker whose check_once must decide alone: handing a file back to the whole parse fails."""

    def _check_fallback(self, raw: bytes, *, progress_k: int | None, final: bool) -> list[Any]:
        raise AssertionError("a strict JSON object went to the whole parse")


def _same(cfg: Any, raw: bytes, chunk: int, final: bool = False, streamed: bool = False) -> list[Any]:
    """check_once's findings, asserted equal to check's (``streamed``: without a fallback)."""
    expected = TrainlogChecker(cfg).check(raw, final=final)
    base = _Streamed if streamed else TrainlogChecker
    got = type("Chunked", (base,), {"STREAM_CHUNK": chunk})(cfg).check_once(raw, final=final)
    assert got == expected
    return got


_runs = st.sampled_from(pst.TASKS).flatmap(lambda task: pst.traincfgs(task=task)).flatmap(
    lambda cfg: st.tuples(st.just(cfg), pst.trainlogs(cfg, epochs=st.integers(0, 6)))
)
_dumps = st.sampled_from(
    [{"indent": 4, "ensure_ascii": False}, {"indent": None}, {"indent": 2, "ensure_ascii": True},
     {"indent": None, "separators": (",", ":"), "ensure_ascii": False}]
)
_chunks = st.one_of(st.integers(1, 40), st.sampled_from([1 << 10, 1 << 20]))


@_SETTINGS
@given(_runs, _dumps, _chunks, st.booleans(), st.booleans())
def test_generated_logs_give_the_same_findings(
    pair: tuple[dict[str, Any], dict[str, Any]], dump: dict[str, Any], chunk: int, final: bool, with_cfg: bool
) -> None:
    cfg, log = pair
    _same(cfg if with_cfg else None, json.dumps(log, **dump).encode("utf-8"), chunk, final, streamed=True)


@_SETTINGS
@given(
    st.sampled_from(pst.TASKS).flatmap(lambda task: pst.traincfgs(task=task)).flatmap(
        lambda cfg: st.tuples(st.just(cfg), pst.trainlogs(cfg, epochs=st.integers(1, 4)))
    ),
    st.sampled_from(pst.LOG_MUTATIONS),
    _chunks,
)
def test_mutated_logs_give_the_same_findings(pair: tuple, mutation: Any, chunk: int) -> None:
    cfg, log = pair
    findings = _same(cfg, mutation(log), chunk)
    assert mutation.rule in {f.rule for f in findings}


@_SETTINGS
@given(_runs, _chunks, st.data())
def test_any_edit_of_the_bytes_gives_the_same_findings(pair: tuple, chunk: int, data: st.DataObject) -> None:
    cfg, log = pair
    indent = data.draw(st.sampled_from([None, 4]))
    raw = bytearray(json.dumps(log, indent=indent, ensure_ascii=False).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, len(raw)))
        kind = data.draw(st.sampled_from(["replace", "delete", "insert", "cut"]))
        byte = data.draw(st.sampled_from(list(b'0123456789"{}[],: eE.-xN\n\xff\xe7')))
        if kind == "cut":
            del raw[where:]
        elif kind == "insert":
            raw[where:where] = bytes([byte])
        elif where < len(raw):
            if kind == "delete":
                del raw[where]
            else:
                raw[where] = byte
    _same(cfg, bytes(raw), chunk)


def _guide_after(k: int) -> dict[str, Any]:
    log = copy.deepcopy(GUIDE)
    first = log["epochs"][0]
    log["epochs"] = [dict(copy.deepcopy(first), epoch=str(i)) for i in range(1, k + 1)]
    log["end_time"] = ""
    return log


@pytest.mark.parametrize("chunk", [3, 64, 1 << 20])
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \n ",
        b"[1, 2, 3]",
        b'"a string"',
        b"12",
        b"\xef\xbb\xbf" + json.dumps(_guide_after(1)).encode(),
        json.dumps(_guide_after(2)).encode() + b" x",
        json.dumps(_guide_after(2)).encode()[:-1],
        json.dumps(_guide_after(2)).encode().replace(b"0.50", b"NaN", 1),
        json.dumps(_guide_after(2)).encode() + b"\xff",
        b'{"epochs": [1, 2, 3' + b" " * 200 + b"]}",
        b'{"epochs": [' + b"1" * 300 + b"]}",
        b'{"epochs": [1e400]}',
        b'{"epochs": []}',
        b'{"epochs": [], "epochs": [{"epoch": 1}]}',
        b'{"epochs": 3, "epochs": [{"epoch": 1}]}',
        b"{}",
        b"{ }  \n",
    ],
    ids=lambda v: repr(v[:24]) if isinstance(v, bytes) else str(v),
)
def test_edge_cases_give_the_same_findings(raw: bytes, chunk: int) -> None:
    _same(CFG, raw, chunk)
    _same(None, raw, chunk, final=True)


@pytest.mark.parametrize("chunk", [1, 2, 5, 64])
def test_a_number_cut_at_the_windows_edge_is_read_whole(chunk: int) -> None:
    for raw in (b'{"epochs": [' + b"1" * 300 + b"]}", b'{"best": 123456789, "epochs": [12345e-3, 7]}'):
        _same(None, raw, chunk, streamed=True)


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_a_description_after_the_epochs_is_the_one_entries_are_judged_against(chunk: int) -> None:
    log = _guide_after(3)
    order = ("training_id", "create_time", "description", "epochs", "best", "description", "end_time")
    members = [(key, log[key]) for key in order]
    members[2] = ("description", {"recall": "r"})  # before epochs: a first description, replaced
    text = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in members) + "}"
    assert _same(CFG, text.encode(), chunk) == []  # the last description holds every key used
    members[5] = ("description", {"recall": "r"})
    text = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in members) + "}"
    assert [f.rule for f in _same(CFG, text.encode(), chunk)] == ["LOG008"] * 4  # best and 3 entries


def _big_log(epochs: int, classes: int) -> tuple[dict[str, Any], bytes]:
    """A log of 16 classes as a script writes it, with a few broken entries; (traincfg, file bytes)."""
    names = [f"class{i}" for i in range(classes)]
    cfg = dict(CFG, class_name=",".join(names))
    log = _guide_after(0)
    template = GUIDE["epochs"][0]
    for k in range(1, epochs + 1):
        entry = {"epoch": str(k)}
        for split in ("train", "valid"):
            first = copy.deepcopy(template[split][0])
            first["values"] = {key: v * (k % 97) / 97 for key, v in first["values"].items()}
            rest = [{"class": n, "values": {"precision": (k * i % 89) / 89, "recall": 0.5, "score": 0.25,
                                            "IoU": 0.125}} for i, n in enumerate(names)]
            entry[split] = [first, *rest]
        log["epochs"].append(entry)
    log["epochs"][9]["valid"][3]["values"]["IoU"] = 1.5  # LOG011 at epoch 10
    log["epochs"][epochs // 2]["train"].append({"class": "nobody", "values": {}})  # LOG007
    log["epochs"][-1]["valid"][0]["values"]["loss"] = -1.0  # LOG011 at the last epoch
    log["end_time"] = "2021-05-14 23:59:59"
    return cfg, json.dumps(log, indent=4, ensure_ascii=False).encode("utf-8")


def test_a_multi_megabyte_log_gives_the_same_findings_through_validate_trainlog(tmp_path: Path) -> None:
    cfg, raw = _big_log(400, 16)
    assert len(raw) > 3 * (1 << 20)  # several windows of the default size
    path = tmp_path / "trainlog.json"
    path.write_bytes(raw)
    report = validate_trainlog(path, cfg, final=True)
    expected = TrainlogChecker(cfg, path=str(path)).check(raw, final=True)
    assert list(report.findings) == expected
    assert [(f.rule, f.epoch) for f in report.findings] == [("LOG011", 10), ("LOG007", 201), ("LOG011", 400)]


def test_the_streaming_pass_keeps_no_entry_in_memory() -> None:
    cfg, raw = _big_log(200, 16)
    tracemalloc.start()
    try:
        findings = _chunked(1 << 16)(cfg).check_once(raw)
        _, streamed = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert TrainlogChecker(cfg).check(raw) == findings
        _, whole = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The whole parse holds every entry's text and values (several times the file); the streaming pass
    # holds a window of text (64 KiB here) and one entry at a time.
    assert whole > 3 * len(raw)
    assert streamed < len(raw) / 8, (streamed, len(raw))
