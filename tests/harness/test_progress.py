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
