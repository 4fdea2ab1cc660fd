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
    assert main(args + ["--size", "48x40", "--image-format", "jpg", "--seed", "4"]) == 0
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


def test_check_of_a_missing_folder_or_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the validators with a missing file: exit 2, the reason on stderr, nothing judged.
    assert main(["dataset", "--check", str(tmp_path / "none"), "--task", "segmentation"]) == 2
    captured = capsys.readouterr()
    assert "expected a dataset folder, got nothing" in captured.err and captured.out == ""
    (tmp_path / "file").write_text("x")
    args = ["dataset", "--check", str(tmp_path / "file"), "--task", "segmentation", "--format", "json"]
    assert main(args) == 2
    assert "got a file" in capsys.readouterr().err


def test_detection_images_are_jpg_unless_asked_otherwise(tmp_path: Path) -> None:
    base = ["dataset", "--task", "detection", "--images", "2"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert sorted(p.name for p in (tmp_path / "a/train/images").iterdir()) == ["00000.jpg", "00001.jpg"]
    assert main([*base, "--out", str(tmp_path / "b"), "--image-format", "png"]) == 0
    assert sorted(p.name for p in (tmp_path / "b/train/images").iterdir()) == ["00000.png", "00001.png"]


@pytest.mark.parametrize("fmt", ["png", "jpg", "tif"])
@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_image_format_for_every_task_and_labels_with_the_same_extension(
    tmp_path: Path, task: str, fmt: str
) -> None:
    out = tmp_path / "ds"
    assert main(["dataset", "--task", task, "--images", "2", "--out", str(out), "--image-format", fmt]) == 0
    assert sorted(p.name for p in (out / "train/labels").iterdir()) == [f"00000.{fmt}", f"00001.{fmt}"]
    assert main(["dataset", "--check", str(out), "--task", task]) == 0


def test_json_output_of_writing_and_checking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert main(["dataset", "--task", "segmentation", "--images", "2", "--out", str(out), "--image-format",
                 "tif", "--format", "json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["image_format"] == "tif" and written["label_extension"] == ".tif"
    assert written["train_images"] == 2 and written["size"] == [64, 64] and written["path"] == str(out)
    assert [c["class_name"] for c in written["classes"]] == ["background", "building", "water", "road"]
    assert main(["dataset", "--check", str(out), "--task", "segmentation", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "path": str(out), "task": "segmentation", "valid": True, "problems": []}
    (out / "train/labels/00000.tif").unlink()
    assert main(["dataset", "--check", str(out), "--task", "segmentation", "--format", "json"]) == 1
    checked = json.loads(capsys.readouterr().out)
    assert checked["valid"] is False and checked["problems"] == [
        "train/images/00000.tif: no label (expected train/labels/00000.tif or train/labels/00000.png)"]


def test_format_with_an_image_format_is_deprecated_but_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    assert main(["dataset", "--task", "segmentation", "--out", str(out), "--format", "jpg"]) == 0
    captured = capsys.readouterr()
    assert "--format jpg is deprecated" in captured.err and "--image-format jpg" in captured.err
    assert "wrote segmentation dataset" in captured.out  # the output stays text
    assert (out / "train/images/00000.jpg").exists() and (out / "train/labels/00000.jpg").exists()
    args = ["dataset", "--task", "segmentation", "--out", str(tmp_path / "x"), "--format", "jpg"]
    assert main([*args, "--image-format", "tif"]) == 2
    assert "disagree" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal
        main(["dataset", "--task", "segmentation", "--out", str(tmp_path / "y"), "--format", "gif"])
    assert refused.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_serve_keeps_format_as_the_old_spelling_of_image_format(capsys: pytest.CaptureFixture[str]) -> None:
    from pie_conformance.cli import build_parser
    from pie_conformance.commands.dataset import spec_from_args

    parser = build_parser()
    assert spec_from_args(parser.parse_args(["serve", "--task", "detection"])).image_format == "jpg"
    spec = spec_from_args(parser.parse_args(["serve", "--task", "detection", "--image-format", "tif"]))
    assert spec.image_format == "tif"
    legacy = spec_from_args(parser.parse_args(["serve", "--task", "detection", "--format", "png"]))
    assert legacy.image_format == "png"
    assert "deprecated" in capsys.readouterr().err
