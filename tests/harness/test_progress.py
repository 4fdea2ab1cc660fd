"""Progress-line parsing: the exact form, its terminators, and the near misses PRG002 reports."""

from __future__ import annotations

import pytest

from pie_conformance.harness.progress import classify


@pytest.mark.parametrize(
    ("raw", "k", "n"),
    [(b"[Process: 1/2]\n", 1, 2), (b"[Process: 10/200]", 10, 200), (b"[Process: 3/3]\r\n", 3, 3)],
)
def test_exact_lines(raw: bytes, k: int, n: int) -> None:
    pl = classify(raw, 7, 1.5)
    assert pl is not None and pl.exact
    assert (pl.k, pl.n, pl.line, pl.elapsed) == (k, n, 7, 1.5)


@pytest.mark.parametrize(
    "raw",
    [
        b"[process: 1/2]\n",
        b"[Process:1/2]\n",
        b"Process: 1/2\n",
        b"[Process: 1/2] loss=0.3\n",
        b"  [Process: 1/2]\n",
        b"[Process: 1 / 2]\n",
        b"[PROCESS: 1/2]\n",
        b"epoch done [Process: 1/2]\n",
        b"[Process: 1/2]\r\r\n",
        b"[Process: 1/2]\x1b[0m\n",
        "[Process: \u0661/2]\n".encode(),  # an Arabic-Indic digit is not an ASCII one
    ],
)
def test_near_misses(raw: bytes) -> None:
    pl = classify(raw, 1)
    assert pl is not None and not pl.exact
    assert (pl.k, pl.n) == (1, 2)


@pytest.mark.parametrize(
    "raw",
    [b"Processing batch 3/10\n", b"loss 1/2\n", b"[Process: a/b]\n", b"", b"\n", b"processed 5 images\n"],
)
def test_other_lines(raw: bytes) -> None:
    assert classify(raw, 1) is None


def test_undecodable_bytes_do_not_raise() -> None:
    pl = classify(b"\xff\xfe[process: 1/2]\n", 1)
    assert pl is not None and not pl.exact


def test_the_probe_in_the_script_agrees_with_the_kit() -> None:
    # The script's probe waits for the kit after exactly the lines the kit answers: they must agree.
    import importlib.util

    from pie_conformance.harness.execution import PROBE_DIR as _PROBE_DIR
    from pie_conformance.harness.progress import strip_terminator

    spec = importlib.util.spec_from_file_location("_pie_probe", _PROBE_DIR / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    lines = [
        b"[Process: 1/2]",
        b"[Process: 1/2]\r",
        b"[Process: 1/2]\r\r",
        b"[Process: 1234567890/2]",
        b"[Process: 123456789/2]",
        "[Process: \u0661/2]".encode(),
        b" [Process: 1/2]",
        b"[Process:1/2]",
    ]
    for raw in lines:
        kit = classify(raw + b"\n", 1)
        assert (kit is not None and kit.exact) is bool(
            probe._EXACT.fullmatch(strip_terminator(raw + b"\n"))
        ), raw
