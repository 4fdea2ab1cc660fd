"""PRG rules: unit tests on run records, then the example scripts of tests/cases/PRGnnn end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from _run_records import ids, lines, record

from pie_conformance.facts import BufferingProbe, ProgressLine

PRG = ["PRG001", "PRG002", "PRG003", "PRG004", "PRG005", "PRG006"]
CASES = Path(__file__).resolve().parents[1] / "cases"


def near(text: str, k: int = 1, n: int = 2, line: int = 1) -> ProgressLine:
    return ProgressLine(line, text, k, n, False)


def test_a_clean_run_has_no_finding() -> None:
    assert ids(PRG, record()) == []


def test_prg001_no_progress_line() -> None:
    found = ids(PRG, record(progress=(), near_misses=(near("[process: 1/2]"),)))
    assert [r for r, _ in found] == ["PRG001", "PRG002"]
    assert "1 line look like one" in found[0][1]


def test_prg001_and_prg004_wait_for_a_normal_end() -> None:
    # A crash or a timeout is RUN001/RUN002's to report, with the epoch it stopped at.
    assert ids(PRG, record(progress=(), returncode=1)) == []
    assert ids(PRG, record(progress=lines(1), timed_out=True, returncode=-9)) == []


@pytest.mark.parametrize(
    ("text", "hint_part"),
    [
        ("[process: 1/2]", "capital P"),
        ("[Process:1/2]", "one space is needed after the colon"),
        ("[Process: 1 / 2]", "no spaces around"),
        ("Process: 1/2", "square brackets"),
        ("[Process: 1/2] loss=0.5", "nothing may stand before or after"),
    ],
)
def test_prg002_names_the_slip(text: str, hint_part: str) -> None:
    from pie_conformance.rules import evaluate

    (f,) = evaluate(["PRG002"], record(near_misses=(near(text, line=4),)))
    assert f.line == 4 and f.epoch == 1
    assert repr(text) in f.message
    assert hint_part in (f.hint or "")


def test_prg002_groups_a_slip_repeated_every_epoch() -> None:
    misses = tuple(near(f"[process: {k}/9]", k, 9, k) for k in range(1, 10))
    ((rule, message),) = ids(["PRG002"], record(near_misses=misses))
    assert "(and 8 more lines like it)" in message


def test_prg003_wrong_n() -> None:
    ((rule, message),) = ids(PRG, record(progress=lines(1, 2, n=5)))
    assert rule == "PRG003" and "expected N = 2" in message and "(2 lines in all)" in message


def test_prg003_starts_at_zero() -> None:
    found = ids(["PRG003"], record(progress=lines(0, 1)))
    assert found == [("PRG003", "expected the first progress line to announce k = 1, got '[Process: 0/2]'")]


def test_prg003_skips_a_k() -> None:
    found = ids(["PRG003"], record(traincfg={"epochs": 3}, progress=lines(1, 3, n=3)))
    assert found == [("PRG003", "expected k = 2 after k = 1, got '[Process: 3/3]'")]


def test_prg003_leaves_repeats_to_prg005() -> None:
    found = ids(PRG, record(progress=lines(1, 1, 2)))
    assert [r for r, _ in found] == ["PRG005"]


def test_prg004_counts() -> None:
    assert [r for r, _ in ids(PRG, record(progress=lines(1)))] == ["PRG004"]
    assert [r for r, _ in ids(["PRG004"], record(traincfg={"epochs": 1}, progress=lines(1, 2, n=1)))] == [
        "PRG004"
    ]
    early = {"epochs": 3, "auto_termination": 1}
    assert ids(["PRG004"], record(traincfg=early, progress=lines(1, 2, n=3))) == []


def test_prg005_reports_each_repeated_k() -> None:
    found = ids(["PRG005"], record(progress=lines(1, 1, 2, 2, 2)))
    assert [m for _, m in found] == [
        "expected one progress line for k = 1, got 2 (stdout lines 1, 2)",
        "expected one progress line for k = 2, got 3 (stdout lines 3, 4, 5)",
    ]


def _probe(arrivals: tuple[float, ...], ref: tuple[float, ...]) -> BufferingProbe:
    return BufferingProbe(
        arrivals=arrivals, eof=arrivals[-1] + 0.5, reference_arrivals=ref, reference_eof=ref[-1] + 1
    )


def test_prg006_burst_at_exit() -> None:
    assert [r for r, _ in ids(PRG, record(buffering=_probe((3.0, 3.0001), (1.0, 2.0))))] == ["PRG006"]


def test_prg006_lines_arrive_as_printed() -> None:
    assert ids(PRG, record(buffering=_probe((1.0, 2.0), (1.0, 2.0)))) == []


def test_prg006_cannot_judge_a_fast_script() -> None:
    assert ids(PRG, record(buffering=_probe((3.0, 3.0), (1.0, 1.05)))) == []
    assert ids(PRG, record(buffering=_probe((3.0,), (1.0,)))) == []


# -- end to end ----------------------------------------------------------------------------------------

#: case -> (a phrase of its message, a phrase of its hint, extra check_script arguments)
CASE_EXPECTED = {
    "PRG001": ("got none", "[Process: {epoch + 1}/{epochs}]", {}),
    "PRG002": ("'[Process:1/2] done' (and 1 more line like it)", "one space is needed", {}),
    "PRG003": ("expected N = 2", "int(params['epochs'])", {}),
    "PRG004": ("expected exactly 2 progress lines (auto_termination 0), got 1", "before its last epoch", {}),
    "PRG005": ("expected one progress line for k = 1, got 2", "print it once", {}),
    "PRG006": ("all 2 of them at once", "flush=True", {"check_buffering": True}),
}


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", sorted(CASE_EXPECTED))
def test_case_breaks_exactly_its_rule(rule_id: str) -> None:
    from pie_conformance import CheckOptions, check_script
    from pie_conformance.rules import get_rule

    in_message, in_hint, kw = CASE_EXPECTED[rule_id]
    report = check_script(
        CASES / rule_id, CheckOptions(sources=False,
            task="segmentation", scenarios=["baseline"], timeout=120, **kw))
    assert report.rule_ids() == {rule_id}, [(f.rule, f.message) for f in report.findings]
    assert any(in_message in f.message for f in report.findings), [f.message for f in report.findings]
    assert any(in_hint in (f.hint or "") for f in report.findings), [f.hint for f in report.findings]
    assert report.conformant is (get_rule(rule_id).severity.value == "warning")
