"""A mock S3 with one small dataset per task, and a runner for scripts that use the shim in a child."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from shim_support import ScriptRunner, make_runner

from pie_conformance.datasets import TASKS, Dataset, DatasetSpec, generate
from pie_conformance.s3 import DatasetStore, MockS3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MockS3Server]:
    with MockS3Server() as server:
        yield server


@pytest.fixture(scope="session")
def datasets(s3_server: MockS3Server) -> dict[str, Dataset]:
    """One dataset per task, uploaded (3 train and 2 valid images of 32x32)."""
    store = DatasetStore(s3_server.endpoint_url)
    made = {}
    for task in TASKS:
        ds = generate(DatasetSpec(task, train_images=3, valid_images=2, size=(32, 32), seed=11))
        store.upload(ds)
        made[task] = ds
    return made


@pytest.fixture
def run_script(s3_server: MockS3Server, datasets: dict[str, Dataset], tmp_path: Path) -> ScriptRunner:
    """Run Python code in a child process in ``tmp_path`` (see ``make_runner``)."""
    return make_runner(s3_server, datasets, tmp_path)
