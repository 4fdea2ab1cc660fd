"""Dataset folders: write, read back, and every way check_dir names a broken layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pie_conformance.datasets import (
    TASKS,
    DatasetLayoutError,
    DatasetSpec,
    LabelClass,
    check_dir,
    generate,
    load_dir,
)
from pie_conformance.errors import UsageError


def _write(tmp_path: Path, task: str, **kw: object) -> Path:
    ds = generate(DatasetSpec(task, train_images=2, valid_images=1, size=(32, 32), **kw))  # type: ignore[arg-type]
    return ds.write_to_dir(tmp_path / task)


@pytest.mark.parametrize("task", TASKS)
def test_write_then_load_round_trips(tmp_path: Path, task: str) -> None:
    ds = generate(DatasetSpec(task, train_images=2, valid_images=1, size=(32, 32), image_format="jpg"))
    root = ds.write_to_dir(tmp_path / "ds")
    assert json.loads((root / "traincfg.json").read_text(encoding="utf-8")) == ds.traincfg()
    assert check_dir(root, task) == []
    back = load_dir(root, task)
    assert dict(back.files) == dict(ds.files)
    assert back.dataset_id == ds.dataset_id and back.prefix == ds.prefix
    assert back.traincfg() == ds.traincfg()
    assert back.spec.image_format == "jpg" and back.spec.train_images == 2


def test_a_folder_without_traincfg_gets_default_classes_and_a_stable_id(tmp_path: Path) -> None:
    root = _write(tmp_path, "segmentation")
    (root / "traincfg.json").unlink()
    a, b = load_dir(root, "segmentation"), load_dir(root, "segmentation")
    assert a.dataset_id == b.dataset_id
    assert a.traincfg()["dataset_id"] == a.dataset_id and a.spec.size == (32, 32)


def test_missing_valid_and_missing_subfolders(tmp_path: Path) -> None:
    root = _write(tmp_path, "change_detection")
    shutil.rmtree(root / "valid")
    (root / "train/B/00000.png").unlink()
    problems = check_dir(root, "change_detection")
    assert "valid/: missing (expected valid/A/, valid/B/, valid/labels/)" in problems
    assert "train/A/00000.png: no partner image in train/B/" in problems
    shutil.rmtree(root / "train" / "B")
    assert "train/B/: missing (expected train/A/, train/B/, train/labels/)" in check_dir(
        root, "change_detection"
    )


def test_image_without_label_and_label_without_image(tmp_path: Path) -> None:
    root = _write(tmp_path, "segmentation")
    (root / "train/labels/00001.png").unlink()
    (root / "valid/images/00002.png").rename(root / "valid/images/00009.png")
    problems = check_dir(root, "segmentation")
    assert "train/images/00001.png: no label (expected train/labels/00001.png)" in problems
    assert "valid/images/00009.png: no label (expected valid/labels/00009.png)" in problems
    assert "valid/labels/00002.png: no image named 00002 in valid/images/" in problems


def test_bad_label_pngs(tmp_path: Path) -> None:
    root = _write(tmp_path, "segmentation")
    Image.new("RGB", (32, 32)).save(root / "train/labels/00000.png")  # colour, not single band
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(root / "train/labels/00001.png")  # 7 is no class
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "valid/labels/00002.png")  # wrong size
    problems = check_dir(root, "segmentation")
    assert any(p.startswith("train/labels/00000.png: expected an 8-bit single-band label") for p in problems)
    assert any(
        p.startswith("train/labels/00001.png: expected only class values") and "[7]" in p for p in problems
    )
    assert any(
        p.startswith("valid/labels/00002.png: expected the image's size 32x32, got 16x16") for p in problems
    )


def test_bad_detection_annotations(tmp_path: Path) -> None:
    root = _write(tmp_path, "detection")
    (root / "train/labels/00000.xml").write_text("<annotation><size>", encoding="utf-8")
    text = (root / "train/labels/00001.xml").read_text(encoding="utf-8")
    xmax = text.split("<xmax>")[1].split("</xmax>")[0]
    text = text.replace(f"<xmax>{xmax}</xmax>", "<xmax>999.0</xmax>", 1).replace("<name>", "<name>x", 1)
    (root / "train/labels/00001.xml").write_text(text, encoding="utf-8")
    (root / "valid/labels/00002.png").write_bytes(b"not a label")
    problems = check_dir(root, "detection")
    assert any(p.startswith("train/labels/00000.xml: expected a Pascal-VOC annotation") for p in problems)
    assert any(p.startswith("train/labels/00001.xml: object 1") and "999.0" in p for p in problems)
    assert any(p.startswith("train/labels/00001.xml: object 1: expected a class among") for p in problems)
    assert any(p.startswith("valid/labels/00002.png: expected a .xml label") for p in problems)


def test_unreadable_image_and_bad_traincfg(tmp_path: Path) -> None:
    root = _write(tmp_path, "segmentation")
    (root / "train/images/00000.png").write_bytes(b"\x89PNG broken")
    (root / "traincfg.json").write_text("{not json", encoding="utf-8")
    problems = check_dir(root, "segmentation")
    assert any(p.startswith("train/images/00000.png: expected a readable image") for p in problems)
    assert any(p.startswith("traincfg.json: expected a valid platform traincfg") for p in problems)


def test_not_a_folder_and_empty_folder(tmp_path: Path) -> None:
    assert check_dir(tmp_path / "nothing", "segmentation") == [
        f"{tmp_path / 'nothing'}: expected a dataset folder, got nothing"
    ]
    (tmp_path / "empty").mkdir()
    assert check_dir(tmp_path / "empty", "detection") == [
        "train/: missing (expected train/images/, train/labels/)",
        "valid/: missing (expected valid/images/, valid/labels/)",
    ]
    (tmp_path / "empty/train/images").mkdir(parents=True)
    assert (
        "train/images/: no images (expected files ending in .jpg, .jpeg, .png, .tif, .tiff, .bmp)"
        in check_dir(tmp_path / "empty", "detection")
    )


def test_load_dir_refuses_a_broken_folder_naming_the_paths(tmp_path: Path) -> None:
    root = _write(tmp_path, "segmentation")
    (root / "train/labels/00001.png").unlink()
    with pytest.raises(DatasetLayoutError) as caught:
        load_dir(root, "segmentation")
    assert isinstance(caught.value, UsageError)
    assert caught.value.problems == ["train/images/00001.png: no label (expected train/labels/00001.png)"]
    assert "train/images/00001.png" in str(caught.value)


def test_unknown_task_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expected a task"):
        check_dir(tmp_path, "classification")


_names = st.sampled_from(
    ["building", "road", "water", "airplane", "storage_tank", "farmland", "ship", "tree"]
)


@st.composite
def _specs(draw: st.DrawFn) -> DatasetSpec:
    task = draw(st.sampled_from(TASKS))
    values = draw(st.lists(st.integers(1, 255), min_size=1, max_size=3, unique=True))
    names = draw(st.lists(_names, min_size=len(values), max_size=len(values), unique=True))
    classes = [LabelClass(n, v, n, (v, 255 - v, (7 * v) % 256)) for n, v in zip(names, values, strict=True)]
    if task != "detection":
        classes = [LabelClass("background", 0, "bg", (0, 0, 0)), *classes]
    if task == "change_detection":
        classes = classes[:2]
    return DatasetSpec(
        task,
        train_images=draw(st.integers(1, 2)),
        valid_images=1,
        size=(draw(st.integers(16, 48)), draw(st.integers(16, 48))),
        classes=tuple(classes),
        image_format=draw(st.sampled_from(["png", "jpg", "tif"])),
        seed=draw(st.integers(0, 2**31)),
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=_specs())
def test_any_generated_dataset_passes_its_own_check(tmp_path: Path, spec: DatasetSpec) -> None:
    root = generate(spec).write_to_dir(tmp_path / f"ds{spec.seed}")
    assert check_dir(root, spec.task) == []
    shutil.rmtree(root)


def test_lazy_load_reads_files_only_when_asked(tmp_path: Path) -> None:
    ds = generate(DatasetSpec("detection", train_images=2, valid_images=1, size=(32, 32)))
    root = ds.write_to_dir(tmp_path / "ds")
    lazy = load_dir(root, "detection", lazy=True)
    assert list(lazy.files) == list(ds.files) and len(lazy.files) == len(ds.files)
    (root / "train/images/00000.jpg").write_bytes(b"changed on disk")
    assert lazy.files["train/images/00000.jpg"] == b"changed on disk"  # read now, not at load time
    assert lazy.files["valid/labels/00002.xml"] == ds.files["valid/labels/00002.xml"]
    with pytest.raises(KeyError):
        lazy.files["traincfg.json"]  # only the layout's files
