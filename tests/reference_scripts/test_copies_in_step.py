"""Each reference folder is uploaded alone, so shared modules are copies: this keeps the copies identical."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "reference_scripts"

#: Module -> the task folders that carry the same copy of it.
COPIES = {
    "config.py": ("segmentation", "detection", "change_detection"),
    "metrics.py": ("segmentation", "change_detection"),
    "outputs.py": ("segmentation", "change_detection"),
}


@pytest.mark.parametrize("module", sorted(COPIES))
def test_copies_are_identical(module: str) -> None:
    first, *others = COPIES[module]
    expected = (ROOT / first / module).read_bytes()
    for task in others:
        assert (ROOT / task / module).read_bytes() == expected, (
            f"reference_scripts/{task}/{module} differs from reference_scripts/{first}/{module}: "
            "a fix to one copy must go into every copy"
        )
