"""Merging findings that repeat at every progress line into one, so the report stays readable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from pie_conformance.findings import Finding


def _epochs_text(epochs: list[int]) -> str:
    if len(epochs) > 2 and epochs == list(range(epochs[0], epochs[-1] + 1)):
        return f"epochs {epochs[0]}-{epochs[-1]}"
    shown = ", ".join(str(e) for e in epochs[:6]) + (", ..." if len(epochs) > 6 else "")
    return f"epochs {shown}"


def merge_repeats(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, scenario, message, path, hint), at its first epoch, saying where else it held.

    Findings whose message differs from epoch to epoch (because it names what differs) stay apart: the
    epoch matters for them. Order is that of first appearance.
    """
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for f in findings:
        key = (f.rule, f.severity, f.scenario, f.message, f.path, f.hint)
        groups.setdefault(key, []).append(f)
    out: list[Finding] = []
    for group in groups.values():
        first = group[0]
        epochs = sorted({f.epoch for f in group if f.epoch is not None})
        if len(group) > 1 and len(epochs) > 1:
            first = replace(first, message=f"{first.message} (the same at {len(epochs)} progress lines: "
                            f"{_epochs_text(epochs)})")
        out.append(first)
    return out
