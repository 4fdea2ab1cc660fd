"""Datasets as the platform has them: labels with the image's extension, detection images as .jpg by default,
and a layout check that takes both same-extension and ``.png`` labels."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pie_conformance.datasets import DatasetSpec, check_dir, generate, load_dir

FORMATS = ("png", "jpg", "tif")


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_labels_carry_the_image_extension_and_exact_class_values(task: str, fmt: str) -> None:
    ds = generate(DatasetSpec(task, train_images=3, valid_images=1, size=(40, 32), image_format=fmt))
    ext = "." + fmt
    first = "images" if task == "segmentation" else "A"
    for split in ("train", "valid"):
        images = ds.keys(split, first)
        labels = ds.keys(split, "labels")
        # The guide finds a label by replacing 'images' with 'labels' in the image's key: that key exists.
        assert [k.replace(first, "labels") for k in images] == labels
        assert all(k.endswith(ext) for k in images + labels)
    values = {c.value for c in ds.classes}
    for key in ds.keys("train", "labels"):
        label = _open(ds.files[key])
        assert label.mode == "L" and label.size == (40, 32)  # 8-bit, one band, as Pillow reads it
        assert set(np.unique(np.asarray(label)).tolist()) <= values  # lossless, whatever the extension


def test_detection_images_are_jpg_by_default() -> None:
    spec = DatasetSpec("detection", train_images=2, valid_images=1)
    assert spec.image_format == "jpg" and spec.extension == ".jpg" and spec.label_extension == ".xml"
    ds = generate(spec)
    assert ds.keys("train", "images") == ["train/images/00000.jpg", "train/images/00001.jpg"]
    assert _open(ds.files["train/images/00000.jpg"]).format == "JPEG"
    assert ds.keys("train", "labels") == ["train/labels/00000.xml", "train/labels/00001.xml"]
    assert DatasetSpec("detection", image_format="png").extension == ".png"
    assert DatasetSpec("segmentation").image_format == "png"
    assert DatasetSpec("change_detection").image_format == "png"


@settings(max_examples=6, deadline=None)
@given(task=st.sampled_from(["segmentation", "detection", "change_detection"]), fmt=st.sampled_from(FORMATS),
       seed=st.integers(0, 2**31))
def test_every_format_is_deterministic_from_the_seed(task: str, fmt: str, seed: int) -> None:
    spec = DatasetSpec(task, train_images=1, valid_images=1, size=(24, 24), image_format=fmt, seed=seed)
    assert dict(generate(spec).files) == dict(generate(spec).files)


def test_python_literal_label_in_a_traincfg_makes_a_dataset() -> None:
    literal = str([
        {"class_name": "background", "class_value": 0, "class_title": "bg", "class_color": "0,0,0"},
        {"class_name": "farm", "class_value": 60, "class_title": "farm", "class_color": "0,255,0"},
    ])
    assert literal.startswith("[{'")  # the form scripts eval and validate-cfg accepts
    spec = DatasetSpec.from_traincfg({"label": literal, "load_size": "32,32"}, "segmentation")
    assert [(c.name, c.value) for c in spec.resolved_classes] == [("background", 0), ("farm", 60)]


def _folder(tmp_path: Path, task: str, fmt: str) -> Path:
    ds = generate(DatasetSpec(task, train_images=2, valid_images=1, size=(32, 32), image_format=fmt))
    return ds.write_to_dir(tmp_path / f"{task}-{fmt}")


@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_check_takes_same_extension_and_png_labels(tmp_path: Path, task: str) -> None:
    root = _folder(tmp_path, task, "tif")
    assert check_dir(root, task) == []
    # The same labels saved as .png (the kit's former layout, and a common one) are valid too...
    for label in sorted((root / "train" / "labels").iterdir()):
        Image.open(label).save(label.with_suffix(".png"))
        label.unlink()
    assert check_dir(root, task) == []
    # ...and so is a folder holding both forms.
    Image.open(root / "valid/labels/00002.tif").save(root / "valid/labels/00002.png")
    assert check_dir(root, task) == []
    loaded = load_dir(root, task)
    assert "train/labels/00000.png" in loaded.files and "valid/labels/00002.tif" in loaded.files


def test_check_names_the_labels_it_expected(tmp_path: Path) -> None:
    root = _folder(tmp_path, "segmentation", "tif")
    (root / "train/labels/00000.tif").rename(root / "train/labels/00000.jpg")  # neither .tif nor .png
    (root / "train/labels/notes.txt").write_text("n")
    problems = check_dir(root, "segmentation")
    assert problems == [
        "train/labels/00000.jpg: expected 00000.tif or 00000.png (the image is 00000.tif)",
        "train/labels/notes.txt: expected a label image (the image's extension or .png), got a .txt file",
        "train/images/00000.tif: no label (expected train/labels/00000.tif or train/labels/00000.png)",
    ]


def test_check_finds_lossy_jpeg_labels(tmp_path: Path) -> None:
    root = _folder(tmp_path, "segmentation", "jpg")
    assert check_dir(root, "segmentation") == []
    label = root / "train/labels/00000.jpg"
    array = np.asarray(Image.open(label))
    Image.fromarray(array).save(label, format="JPEG", quality=90)  # real JPEG: edges get new values
    problems = check_dir(root, "segmentation")
    assert len(problems) == 1 and problems[0].startswith("train/labels/00000.jpg: expected only class values")


def test_a_tif_label_that_is_not_8_bit(tmp_path: Path) -> None:
    root = _folder(tmp_path, "change_detection", "tif")
    Image.fromarray(np.zeros((32, 32), np.int32)).save(root / "valid/labels/00002.tif")
    problems = check_dir(root, "change_detection")
    assert problems == ["valid/labels/00002.tif: expected an 8-bit single-band label (mode L), got mode I"]


def test_traincfg_of_a_generated_folder_is_json(tmp_path: Path) -> None:
    root = _folder(tmp_path, "detection", "jpg")
    cfg = json.loads((root / "traincfg.json").read_text(encoding="utf-8"))
    assert cfg["class_name"] == "airplane,storage_tank"
    assert sorted(p.name for p in (root / "valid/images").iterdir()) == ["00002.jpg"]
