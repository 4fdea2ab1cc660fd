"""The incremental trainlog check against rewrites of judged entries, when the prefix is not compared whole.

A judged prefix longer than ``VERIFY_WHOLE`` is compared at its head, over the last judged entry and the
``VERIFY_BOUNDARY`` bytes before it, and over one moving ``VERIFY_SWEEP`` slice. These tests shrink the
constants so that small logs take that path: a rewrite in the compared regions is found at once, a rewrite
anywhere else within one round of the sweep, and at once by a ``final`` check.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance import strategies as pst
from pie_conformance.trainlog import TrainlogChecker

CASES = Path(__file__).parent / "cases" / "log"
GUIDE = json.loads((CASES / "pass" / "guide_example.json").read_text(encoding="utf-8"))
CFG = json.loads((CASES / "traincfg.json").read_text(encoding="utf-8"))
_SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Tight(TrainlogChecker):
    """Every judged prefix counts as long: only the bounded regions are compared (but when final)."""

    VERIFY_WHOLE = 0
    VERIFY_BOUNDARY = 40
    VERIFY_HEAD = 64
    VERIFY_SWEEP = 2048


def _first(log: dict[str, Any], k: int) -> dict[str, Any]:
    """The log as it stood after k epochs (best and end_time as the finished log has them)."""
    return dict(log, epochs=log["epochs"][:k])


def _guide_after(k: int) -> dict[str, Any]:
    log = copy.deepcopy(GUIDE)
    first = log["epochs"][0]
    log["epochs"] = [dict(copy.deepcopy(first), epoch=str(i)) for i in range(1, k + 1)]
    log["end_time"] = ""
    return log


def _fresh(checker: TrainlogChecker, cfg: dict[str, Any]) -> TrainlogChecker:
    fresh = TrainlogChecker(cfg)
    fresh.first_create_time = checker.first_create_time
    return fresh


_EDIT_BYTES = b'0123456789"{}[],: eE.-x\n'


def _edit(raw: bytes, where: int, data: st.DataObject) -> bytes:
    """One byte replaced by another, deleted, or one inserted before it."""
    kind = data.draw(st.sampled_from(["replace", "delete", "insert"]))
    byte = data.draw(st.sampled_from([bytes([b]) for b in _EDIT_BYTES]))
    if kind == "delete":
        return raw[:where] + raw[where + 1 :]
    if kind == "insert":
        return raw[:where] + byte + raw[where:]
    if byte == raw[where : where + 1]:
        byte = b"7" if byte != b"7" else b"8"
    return raw[:where] + byte + raw[where + 1 :]


_runs = st.sampled_from(pst.TASKS).flatmap(lambda task: pst.traincfgs(task=task)).flatmap(
    lambda cfg: st.tuples(st.just(cfg), pst.trainlogs(cfg, epochs=st.integers(2, 5)))
)


@_SETTINGS
@given(_runs, st.sampled_from([None, 4]), st.data())
def test_a_rewrite_at_the_boundary_or_in_the_head_is_found_at_once(
    pair: tuple[dict[str, Any], dict[str, Any]], indent: int | None, data: st.DataObject
) -> None:
    cfg, full = pair
    n = len(full["epochs"])

    def dump(k: int) -> bytes:
        return json.dumps(_first(full, k), indent=indent, ensure_ascii=False).encode("utf-8")

    k = data.draw(st.integers(2, n), label="k")
    checker = Tight(cfg)
    for i in range(1, k):
        checker.check(dump(i), progress_k=i)
    at, last, opened = checker._resume_byte, checker._last_entry_byte, checker._open_byte
    head = min(opened, Tight.VERIFY_HEAD)
    boundary = max(head, min(at - Tight.VERIFY_BOUNDARY, last))
    raw = dump(k)
    assert raw[:at] == dump(k - 1)[:at]  # the log only grew: the regions below are all that is compared
    where = data.draw(st.one_of(st.integers(0, head - 1), st.integers(boundary, at - 1)), label="where")
    edited = _edit(raw, where, data)
    assert checker.check(edited, progress_k=k) == _fresh(checker, cfg).check(edited, progress_k=k)
    if k < n:  # ...and the run goes on as if every snapshot were checked afresh
        assert checker.check(dump(k + 1), progress_k=k + 1) == _fresh(checker, cfg).check(
            dump(k + 1), progress_k=k + 1
        )


_RATIO = repr(GUIDE["epochs"][0]["valid"][0]["values"]["precision"]).encode()  # "0.50..."


def _rewritten(k: int, entry: int) -> bytes:
    """The guide's log after k epochs, valid precision of epoch ``entry`` made 7.x: same length, LOG011."""
    raw = json.dumps(_guide_after(k), indent=4).encode()
    assert raw.count(_RATIO) == k and _RATIO.startswith(b"0.")  # once in each entry
    where = -1
    for _ in range(entry):
        where = raw.index(_RATIO, where + 1)
    return raw[:where] + b"7" + raw[where + 1 :]


@settings(max_examples=12, deadline=None)
@given(st.integers(6, 12), st.data())
def test_a_deep_rewrite_is_found_within_one_round_of_the_sweep(start: int, data: st.DataObject) -> None:
    entry = data.draw(st.integers(1, start - 3), label="entry")  # well before the last judged entry
    checker = Tight(CFG)
    for k in range(1, start):
        assert checker.check(json.dumps(_guide_after(k), indent=4).encode(), progress_k=k) == []
    # From epoch `start` on the script keeps writing the rewritten entry. The slice gains VERIFY_SWEEP
    # bytes a check on the growing log: it reaches the end of the prefix judged so far, starts again at
    # the head and reaches the rewritten byte, each within len / VERIFY_SWEEP checks.
    rounds = 2 * math.ceil(len(_rewritten(start, entry)) / Tight.VERIFY_SWEEP) + 2
    found_at = None
    for k in range(start, start + rounds + 3):
        raw = _rewritten(k, entry)
        got = checker.check(raw, progress_k=k)
        expected = _fresh(checker, CFG).check(raw, progress_k=k)
        assert [(f.rule, f.epoch) for f in expected] == [("LOG011", entry)]
        if found_at is None and got == expected:
            found_at = k
        if found_at is not None:
            assert got == expected  # once found, it stays found
            if k > found_at + 2:
                break
    assert found_at is not None and found_at - start <= rounds


@settings(max_examples=25, deadline=None)
@given(st.integers(6, 12), st.data())
def test_a_final_check_compares_the_whole_prefix(start: int, data: st.DataObject) -> None:
    entry = data.draw(st.integers(1, start - 3), label="entry")
    checker = Tight(CFG)
    for k in range(1, start):
        checker.check(json.dumps(_guide_after(k), indent=4).encode(), progress_k=k)
    raw = _rewritten(start, entry).replace(b'"end_time": ""', b'"end_time": "2021-05-14 10:51:20"')
    got = checker.check(raw, progress_k=start, final=True)
    assert got == _fresh(checker, CFG).check(raw, progress_k=start, final=True)
    assert [(f.rule, f.epoch) for f in got] == [("LOG011", entry)]


def test_the_boundary_window_covers_a_last_entry_longer_than_it() -> None:
    # An entry of 40 classes is longer than VERIFY_BOUNDARY: a rewrite at its start is still compared.
    cfg = dict(CFG, class_name=CFG["class_name"] + "".join(f",c{i}" for i in range(40)))

    def log_after(k: int, bad: bool = False) -> bytes:
        log = _guide_after(k)
        for entry in log["epochs"]:
            entry["train"] = entry["train"][:1] + [
                {"class": f"c{i}", "values": {"precision": 0.5}} for i in range(40)
            ]
        if bad:
            log["epochs"][k - 2]["train"][1]["values"]["precision"] = 5.0  # the second-to-last entry
        return json.dumps(log, indent=4).encode()

    checker = Tight(cfg)
    for k in range(1, 6):
        assert checker.check(log_after(k), progress_k=k) == []
    assert len(log_after(1)) > 20 * Tight.VERIFY_BOUNDARY
    findings = checker.check(log_after(6, bad=True), progress_k=6)
    assert [(f.rule, f.epoch) for f in findings] == [("LOG011", 5)]
