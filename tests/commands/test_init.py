"""``pie-check init --task T DIR``: a starting folder from the bundled reference script, conformant as is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pie_conformance.cli import main
from pie_conformance.tasks import TASKS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("task", TASKS)
def test_init_writes_the_reference_script_and_a_readme(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "my job"
    assert main(["init", "--task", task, str(target)]) == 0
    reference = ROOT / "reference_scripts" / task
    modules = sorted(p.name for p in reference.glob("*.py"))
    assert sorted(p.name for p in target.iterdir()) == sorted([*modules, "README.md"])
    for name in modules:
        assert (target / name).read_bytes() == (reference / name).read_bytes()
    readme = (target / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# A PIE-Engine training script for {task.replace('_', ' ')}\n")
    assert f"pie-check run '{target}' --task {task}" in readme  # quoted: the folder name has a space
    assert "## What to change" in readme and "`model.py`" in readme
    # The reference README follows, without its title.
    ref_readme = (reference / "README.md").read_text(encoding="utf-8")
    assert ref_readme.split("\n", 1)[1].strip() in readme and ref_readme.split("\n", 1)[0] not in readme
    out = capsys.readouterr().out
    assert out.startswith(f"wrote a {task} train.py to {target} (") and "pie-check run" in out


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "train.py").write_text("print('my own script')\n")
    assert main(["init", "--task", "detection", str(tmp_path)]) == 2
    assert "is not empty; choose a new folder, or add --force" in capsys.readouterr().err
    assert (tmp_path / "train.py").read_text() == "print('my own script')\n"
    assert main(["init", "--task", "detection", str(tmp_path), "--force"]) == 0
    reference = ROOT / "reference_scripts" / "detection" / "train.py"
    assert (tmp_path / "train.py").read_bytes() == reference.read_bytes()
    assert (tmp_path / "notes.txt").read_text() == "mine\n"  # --force replaces only the files it writes


def test_init_into_a_file_or_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a_file").write_text("x")
    assert main(["init", "--task", "segmentation", str(tmp_path / "a_file")]) == 2
    assert "expected a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["init", "--task", "segmentation", str(tmp_path / "empty")]) == 0
    assert (tmp_path / "empty" / "train.py").is_file()


def test_init_needs_a_known_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["init", "--task", "classification", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "invalid choice: 'classification'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_the_written_script_is_conformant_as_it_is(task: str, tmp_path: Path) -> None:
    target = tmp_path / "job"
    assert main(["init", "--task", task, str(target)]) == 0
    report = tmp_path / "report.json"
    status = main(["run", str(target), "--task", task, "--format", "json", "--output", str(report)])
    found = json.loads(report.read_text(encoding="utf-8"))
    assert status == 0, [f["rule"] + ": " + f["message"] for f in found["findings"]]
    assert found["conformant"] is True
    assert {s["name"]: s["status"] for s in found["scenarios"]}["baseline"] == "ran"
