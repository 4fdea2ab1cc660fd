"""``pie-check dataset``: writing a dataset folder and checking one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pie_conformance.cli import main
from pie_conformance.datasets import check_dir


def test_writes_a_dataset_with_its_traincfg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    args = ["dataset", "--task", "detection", "--out", str(out), "--images", "3", "--valid-images", "2"]
    assert main(args + ["--size", "48x40", "--format", "jpg", "--seed", "4"]) == 0
    assert "wrote detection dataset" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "train/images").iterdir()) == ["00000.jpg", "00001.jpg", "00002.jpg"]
    assert sorted(p.name for p in (out / "valid/labels").iterdir()) == ["00003.xml", "00004.xml"]
    cfg = json.loads((out / "traincfg.json").read_text(encoding="utf-8"))
    assert cfg["load_size"] == "48,40" and cfg["class_name"] == "airplane,storage_tank"
    assert check_dir(out, "detection") == []


def test_refuses_to_write_over_a_dataset_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "ds")
    assert main(["dataset", "--task", "segmentation", "--out", out, "--images", "1"]) == 0
    assert main(["dataset", "--task", "segmentation", "--out", out, "--images", "1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["dataset", "--task", "segmentation", "--out", out, "--images", "1", "--force"]) == 0


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [("--size", "big", "W,H"), ("--size", "4x4", "between 16 and 8192"), ("--images", "0", "at least 1")],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, fragment: str
) -> None:
    assert main(["dataset", "--task", "segmentation", "--out", str(tmp_path / "x"), option, value]) == 2
    assert fragment in capsys.readouterr().err


def test_check_passes_a_good_folder_and_lists_problems_of_a_broken_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    main(["dataset", "--task", "change_detection", "--out", str(out), "--images", "2"])
    capsys.readouterr()
    assert main(["dataset", "--check", str(out), "--task", "change_detection"]) == 0
    assert "a valid change_detection dataset" in capsys.readouterr().out
    (out / "train/B/00001.png").unlink()
    (out / "valid/labels/00002.png").unlink()
    assert main(["dataset", "--check", str(out), "--task", "change_detection"]) == 1
    printed = capsys.readouterr().out
    assert "train/A/00001.png: no partner image in train/B/" in printed
    assert "valid/A/00002.png: no label (expected valid/labels/00002.png)" in printed
    assert "valid/B/00002.png: no label (expected valid/labels/00002.png)" in printed
    assert "3 problem(s)" in printed


def test_check_of_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "--check", str(tmp_path / "none"), "--task", "segmentation"]) == 1
    assert "expected a dataset folder, got nothing" in capsys.readouterr().out
