"""Helpers of the aiUtils tests: where the test weights lie and how a child script's answer is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

from pie_conformance.datasets import Dataset
from pie_conformance.s3 import MockS3Server, aiutils_env, registry_for

#: Where the resume weights of the tests lie (a model folder, as the platform's resume_path names one).
WEIGHTS_PREFIX = "devel/kit/model/5f0c6a8e-0000-4000-8000-000000000001/"

ScriptRunner = Callable[..., subprocess.CompletedProcess[str]]


def last_json(result: subprocess.CompletedProcess[str]) -> object:
    """The JSON the script printed on its last stdout line (after checking it exited 0)."""
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_runner(server: MockS3Server, datasets: dict[str, Dataset], folder: Path) -> ScriptRunner:
    """A function that runs Python code in a child process in ``folder``, its environment reaching the mock
    as a platform script's would."""

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
            "HOME": str(folder),
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        child_env.update(aiutils_env(endpoint or server.endpoint_url, registry, dataset_id))
        child_env["PYTHONPATH"] = child_env["PYTHONPATH"].split(os.pathsep)[0]  # only the shim
        child_env.update(env or {})
        (folder / "script.py").write_text(textwrap.dedent(code), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "script.py"],
            cwd=folder,
            env=child_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,  # a guard against a hang, not a speed check
        )

    return run
