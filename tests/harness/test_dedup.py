"""Findings repeated at every progress line read once, with the epochs where they held."""

from __future__ import annotations

from pie_conformance.findings import Finding, Severity
from pie_conformance.harness._dedup import merge_repeats


def f(epoch: int | None, message: str = "missing", rule: str = "OUT001") -> Finding:
    return Finding(rule, Severity.ERROR, message, scenario="baseline", epoch=epoch, path="output/x")


def test_same_message_every_epoch_merges() -> None:
    (one,) = merge_repeats([f(1), f(2), f(3), f(4)])
    assert one.epoch == 1 and one.message == "missing (the same at 4 progress lines: epochs 1-4)"


def test_scattered_epochs_are_listed() -> None:
    (one,) = merge_repeats([f(2), f(5), f(9)])
    assert one.message.endswith("(the same at 3 progress lines: epochs 2, 5, 9)")


def test_different_messages_rules_or_scenarios_stay_apart() -> None:
    found = [
        f(1, "a"),
        f(2, "b"),
        f(1, rule="LOG001"),
        Finding("OUT001", Severity.ERROR, "missing", "resume", 1),
    ]
    assert merge_repeats(found) == found


def test_no_epoch_is_kept_as_is() -> None:
    found = [f(None), f(None)]
    assert merge_repeats(found) == [f(None)]
