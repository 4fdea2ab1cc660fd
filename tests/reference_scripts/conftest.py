"""Fixtures for the reference-script tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads() -> Iterator[None]:
    # The machines running the suite are small and shared: model tests stay on one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
