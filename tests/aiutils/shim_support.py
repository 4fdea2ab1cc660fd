"""Helpers of the aiUtils tests: where the test weights lie and how a child script's answer is read."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

#: Where the resume weights of the tests lie (a model folder, as the platform's resume_path names one).
WEIGHTS_PREFIX = "devel/kit/model/5f0c6a8e-0000-4000-8000-000000000001/"

ScriptRunner = Callable[..., subprocess.CompletedProcess[str]]


def last_json(result: subprocess.CompletedProcess[str]) -> object:
    """The JSON the script printed on its last stdout line (after checking it exited 0)."""
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
