"""Helpers for the reference-script tests: import a script's module under a unique name, tiny datasets."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPTS = Path(__file__).resolve().parents[2] / "reference_scripts"
TASKS = ("segmentation", "change_detection", "detection")


def load_ref(task: str, name: str) -> ModuleType:
    """``reference_scripts/<task>/<name>.py`` as module ``_ref_<task>_<name>``.

    The three folders reuse module names (config, data, model...), so they cannot share ``sys.path``;
    the modules loaded this way import no sibling, which keeps them loadable one by one.
    """
    unique = f"_ref_{task}_{name}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, SCRIPTS / task / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module


def copy_script(task: str, dest: Path) -> Path:
    """A fresh copy of a reference folder, as the platform would receive it."""
    shutil.copytree(SCRIPTS / task, dest, ignore=shutil.ignore_patterns("__pycache__", "output"))
    return dest


def run_python(code: str, cwd: Path, env: dict[str, str],
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with this interpreter in ``cwd`` (the script folder is put first on sys.path)."""
    full_env = {**os.environ, **env, "PYTHONDONTWRITEBYTECODE": "1", "CUDA_VISIBLE_DEVICES": "",
                "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def write_cfg(folder: Path, cfg: dict[str, Any]) -> None:
    """traincfg.json in the run folder."""
    (folder / "traincfg.json").write_text(json.dumps(cfg), encoding="utf-8")
