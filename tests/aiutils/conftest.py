"""A mock S3 with one small dataset per task, and a runner for scripts that use the shim in a child."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from shim_support import ScriptRunner

from pie_conformance.datasets import TASKS, Dataset, DatasetSpec, generate
from pie_conformance.s3 import DatasetStore, MockS3Server, aiutils_env, registry_for


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
    """Run Python code in a child process whose environment reaches the mock, as a platform script's would."""

    def run(
        code: str,
        dataset: str | None = "segmentation",
        env: Mapping[str, str] | None = None,
        endpoint: str | None = None,
        timeout: float = 120,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        registry = registry_for(*datasets.values())
        dataset_id = datasets[dataset].dataset_id if dataset else None
        child_env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PIE_TEST_DATASETS": json.dumps({t: d.dataset_id for t, d in datasets.items()}),
        }
        child_env.update(aiutils_env(endpoint or s3_server.endpoint_url, registry, dataset_id))
        child_env["PYTHONPATH"] = child_env["PYTHONPATH"].split(os.pathsep)[0]  # only the shim
        child_env.update(env or {})
        (tmp_path / "script.py").write_text(textwrap.dedent(code), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "script.py"],
            cwd=tmp_path,
            env=child_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,  # a guard against a hang, not a speed check
        )

    return run
