"""``.pre-commit-hooks.yaml``: the validate-cfg and validate-log hooks, run the way pre-commit runs them."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

HOOKS_FILE = Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml"

GOOD_LOG = {
    "training_id": "57fc8152-c4f5-44b5-a25d-bc043a624d4b",
    "create_time": "2021-05-14 09:10:38",
    "end_time": "2021-05-14 09:20:00",
    "description": {"IoU": "IoU", "loss": "损失率"},
    "epochs": [
        {
            "epoch": "1",
            "train": [{"class": "all", "values": {"IoU": 0.25, "loss": 1.5}}],
            "valid": [{"class": "all", "values": {"IoU": 0.2, "loss": 1.7}}],
        }
    ],
    "best": {"IoU": 0.2},
}


@pytest.fixture(scope="module")
def hooks() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load(HOOKS_FILE.read_text(encoding="utf-8"))
    return {h["id"]: h for h in loaded}


def _run_hook(hook: dict[str, Any], files: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    # pre-commit splits ``entry`` like a shell, appends the matching file names and runs it with the
    # hook environment's bin folder first on PATH; the kit's own environment plays that part here.
    matching = [str(f.relative_to(cwd)) for f in files if re.search(hook["files"], str(f.relative_to(cwd)))]
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    argv = [*shlex.split(hook["entry"]), *matching]
    env = dict(os.environ, PATH=path)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_hooks_are_declared_for_traincfg_and_trainlog_files(hooks: dict[str, dict[str, Any]]) -> None:
    assert set(hooks) == {"validate-cfg", "validate-log"}
    for hook in hooks.values():
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        # One pie-check process gets every file (no shell loop, no split across parallel processes).
        assert shlex.split(hook["entry"]) == ["pie-check", hook["id"]]
        assert hook["pass_filenames"] is True and hook["require_serial"] is True
    cfg, log = re.compile(hooks["validate-cfg"]["files"]), re.compile(hooks["validate-log"]["files"])
    for name in ("traincfg.json", "runs/traincfg.json", "configs/traincfg_seg.json"):
        assert cfg.search(name) and not log.search(name)
    for name in ("trainlog.json", "output/trainlog.json", "trainlog-2021.json"):
        assert log.search(name) and not cfg.search(name)
    for name in ("traincfg.yaml", "mytraincfg.json", "trainlog.json.bak", "traincfg/other.json"):
        assert not cfg.search(name) and not log.search(name)


def test_validate_cfg_hook_passes_good_files_and_fails_on_any_bad_one(
    hooks: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    from pie_conformance.datasets import DatasetSpec, generate

    cfg = generate(DatasetSpec("segmentation", train_images=1, valid_images=1, size=(16, 16))).traincfg()
    good = tmp_path / "traincfg.json"
    good.write_text(json.dumps(cfg), encoding="utf-8")
    (tmp_path / "b").mkdir()
    bad = tmp_path / "b" / "traincfg_bad.json"
    bad.write_text(json.dumps({**cfg, "epochs": 0}), encoding="utf-8")
    ok = _run_hook(hooks["validate-cfg"], [good], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = _run_hook(hooks["validate-cfg"], [good, bad], tmp_path)
    assert failed.returncode == 1
    assert "CFG005" in failed.stdout
    # One report for both files, each finding naming its file.
    assert failed.stdout.startswith("NOT CONFORMANT: traincfg 2 files: 1 error")
    assert "traincfg.json: conformant" in failed.stdout
    assert "b/traincfg_bad.json: NOT conformant" in failed.stdout
    assert "[b/traincfg_bad.json]" in failed.stdout


def test_validate_log_hook_passes_good_files_and_fails_on_any_bad_one(
    hooks: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    good = tmp_path / "trainlog.json"
    good.write_text(json.dumps(GOOD_LOG, ensure_ascii=False), encoding="utf-8")
    bad = tmp_path / "trainlog_nan.json"
    bad.write_text(json.dumps(GOOD_LOG).replace("1.5", "NaN"), encoding="utf-8")
    ok = _run_hook(hooks["validate-log"], [good], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = _run_hook(hooks["validate-log"], [bad, good], tmp_path)
    assert failed.returncode == 1
    assert "LOG002" in failed.stdout
    broken = tmp_path / "trainlog_gone.json"
    broken.symlink_to(tmp_path / "nowhere.json")  # staged, but cannot be read
    unreadable = _run_hook(hooks["validate-log"], [good, broken], tmp_path)
    assert unreadable.returncode == 2
    assert "trainlog_gone.json does not exist" in unreadable.stderr
    assert "trainlog.json: conformant" in unreadable.stdout  # the readable file is still reported
