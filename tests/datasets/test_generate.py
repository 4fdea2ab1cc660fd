"""Synthetic datasets: layouts, determinism, learnable content, labels and boxes that match the drawing."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from pie_conformance.datasets import (
    TASKS,
    DatasetSpec,
    LabelClass,
    default_classes,
    generate,
    read_voc,
)
from pie_conformance.datasets import _draw as draw


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("task", TASKS)
def test_layout_keys_and_prefix(task: str) -> None:
    ds = generate(DatasetSpec(task, train_images=3, valid_images=2, size=(48, 32)))
    folders = {
        "segmentation": ("images", "labels"),
        "detection": ("images", "labels"),
        "change_detection": ("A", "B", "labels"),
    }[task]
    for split, count in (("train", 3), ("valid", 2)):
        for folder in folders:
            assert len(ds.keys(split, folder)) == count
    assert set(k.split("/")[0] for k in ds.files) == {"train", "valid"}
    kind = {"detection": "recognition"}.get(task, task)
    assert ds.prefix == f"devel/kit/dataset/{kind}/{ds.dataset_id}/"
    label_ext = ".xml" if task == "detection" else ".png"
    assert all(k.endswith(label_ext) for k in ds.keys("train", "labels"))


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_bytes_other_seed_other_bytes(task: str) -> None:
    spec = DatasetSpec(task, train_images=2, valid_images=1, size=(32, 32), seed=7)
    a, b = generate(spec), generate(spec)
    assert dict(a.files) == dict(b.files) and a.dataset_id == b.dataset_id
    c = generate(spec.with_(seed=8))
    assert c.dataset_id != a.dataset_id
    assert dict(c.files) != dict(a.files)
    assert a.traincfg()["training_id"] != c.traincfg()["training_id"]


def test_an_image_does_not_depend_on_how_many_others_there_are() -> None:
    small = generate(DatasetSpec("segmentation", train_images=1, valid_images=1))
    large = generate(DatasetSpec("segmentation", train_images=5, valid_images=1))
    assert small.files["train/images/00000.png"] == large.files["train/images/00000.png"]


@pytest.mark.parametrize(
    ("fmt", "pil_format", "ext"), [("png", "PNG", ".png"), ("jpg", "JPEG", ".jpg"), ("tif", "TIFF", ".tif")]
)
def test_image_formats(fmt: str, pil_format: str, ext: str) -> None:
    ds = generate(
        DatasetSpec("segmentation", train_images=1, valid_images=1, size=(40, 24), image_format=fmt)
    )
    (key,) = ds.keys("train", "images")
    assert key.endswith(ext)
    image = _image(ds.files[key])
    assert image.format == pil_format and image.size == (40, 24) and image.mode == "RGB"
    # The label takes the image's extension (as on the platform) and stays lossless: TIFF, else PNG data.
    label = _image(ds.files[f"train/labels/00000{ext}"])
    assert label.format == ("TIFF" if fmt == "tif" else "PNG")
    assert label.mode == "L" and label.size == (40, 24)


def test_default_classes_are_not_zero_to_n() -> None:
    for task in TASKS:
        values = [c.value for c in default_classes(task)]
        assert values != list(range(len(values)))
    assert default_classes("segmentation")[0].name == "background"
    assert [c.value for c in default_classes("change_detection")] == [0, 255]


def test_segmentation_labels_hold_class_values_and_every_class_appears() -> None:
    ds = generate(DatasetSpec("segmentation", train_images=6, valid_images=2, size=(64, 64)))
    values = {c.value for c in ds.classes}
    seen: set[int] = set()
    for key in ds.keys("train", "labels") + ds.keys("valid", "labels"):
        label = np.asarray(_image(ds.files[key]))
        assert label.dtype == np.uint8 and label.ndim == 2
        found = set(np.unique(label).tolist())
        assert found <= values
        seen |= found
    assert seen == values


def test_segmentation_is_learnable_from_colour() -> None:
    # Each class has its own look: the mean colour per class differs clearly, so a model can learn it.
    ds = generate(DatasetSpec("segmentation", train_images=4, valid_images=1, size=(64, 64)))
    means: dict[int, list[np.ndarray]] = {}
    for key in ds.keys("train", "images"):
        rgb = np.asarray(_image(ds.files[key])).astype(float)
        label = np.asarray(_image(ds.files[key.replace("images", "labels")]))
        for value in np.unique(label):
            means.setdefault(int(value), []).append(rgb[label == value].mean(axis=0))
    centres = {v: np.mean(m, axis=0) for v, m in means.items()}
    for a in centres:
        for b in centres:
            if a < b:
                assert np.abs(centres[a] - centres[b]).max() > 20, (a, b, centres)


def test_detection_xml_exactly_as_the_guide_prints_it() -> None:
    ds = generate(DatasetSpec("detection", train_images=1, valid_images=1, size=(600, 600), seed=3))
    text = ds.files["train/labels/00000.xml"].decode()
    lines = text.splitlines()
    assert lines[:9] == [
        "<annotation>",
        "  <folder>VOC</folder>",
        "  <filename>00000.xml</filename>",
        lines[3],
        "  <size>",
        "    <width>600</width>",
        "    <height>600</height>",
        "    <depth>3</depth>",
        "  </size>",
    ]
    n = int(lines[3].strip().removeprefix("<object_num>").removesuffix("</object_num>"))
    assert n >= 1 and text.count("<object>") == n
    first = lines[9:20]
    assert (
        first[0] == "  <object>"
        and first[1].startswith("    <name>")
        and first[2] == "    <difficult></difficult>"
    )
    assert [line.strip()[1:5] for line in first[4:8]] == ["xmin", "xmax", "ymin", "ymax"]
    assert all(".0<" in line for line in first[4:8])
    assert text.endswith("</annotation>\n")


def test_detection_boxes_enclose_exactly_the_drawn_objects() -> None:
    # PNG images: the pixel test below needs colours that JPEG compression would blur.
    spec = DatasetSpec("detection", train_images=6, valid_images=1, size=(96, 96), seed=5, image_format="png")
    ds = generate(spec)
    names = {c.name for c in ds.classes}
    for key in ds.keys("train", "images"):
        rgb = np.asarray(_image(ds.files[key])).astype(float)
        (width, height), boxes = read_voc(ds.files[key.replace("images", "labels").replace(".png", ".xml")])
        assert (width, height) == (96, 96) and boxes
        bright = rgb.mean(axis=2) > 200  # airplanes and tanks are near white; the ground never is
        covered = np.zeros_like(bright)
        for box in boxes:
            assert box.name in names
            x0, y0, x1, y1 = int(box.xmin), int(box.ymin), int(box.xmax), int(box.ymax)
            inside = bright[y0:y1, x0:x1]
            # Every edge of the box touches the object: the box is tight.
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            covered[y0:y1, x0:x1] = True
        assert not (bright & ~covered).any()  # no object outside the boxes


def test_drawn_box_is_tight() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    assert draw.Drawn(0, "rectangle", mask, (0.0, 0.0, 0.0)).box() == (3, 2, 9, 5)


def test_change_pairs_label_the_changed_pixels() -> None:
    ds = generate(DatasetSpec("change_detection", train_images=6, valid_images=1, size=(64, 64), seed=2))
    for key in ds.keys("train", "labels"):
        a = np.asarray(_image(ds.files[key.replace("labels", "A")])).astype(float)
        b = np.asarray(_image(ds.files[key.replace("labels", "B")])).astype(float)
        label = np.asarray(_image(ds.files[key]))
        assert set(np.unique(label).tolist()) <= {0, 255}
        changed = label == 255
        assert changed.any() and (~changed).any()
        diff = np.abs(a - b).mean(axis=2)
        # Radiometric jitter makes every pixel differ a little; a change differs far more.
        assert np.median(diff[changed]) > 3 * np.median(diff[~changed])
        assert np.median(diff[~changed]) > 0.5


def test_traincfg_is_complete_and_valid() -> None:
    from pie_conformance import validate_traincfg

    for task in TASKS:
        ds = generate(DatasetSpec(task, size=(64, 48)))
        cfg = ds.traincfg()
        assert validate_traincfg(cfg).conformant, validate_traincfg(cfg).findings
        assert cfg["dataset_id"] == ds.dataset_id and cfg["load_size"] == "64,48"
        assert cfg["gpu_num"] == 0 and cfg["epochs"] == 2 and cfg["auto_termination"] == 0
        assert json.loads(cfg["label"]) == [c.to_label() for c in ds.classes]
        assert isinstance(cfg["n_class"], str) and isinstance(cfg["learning_rate"], float)
        assert cfg["class_name"].split(",") == [c.name for c in ds.classes]
    seg = generate(DatasetSpec("segmentation")).traincfg(epochs=5, model_name="unet")
    assert seg["epochs"] == 5 and seg["model_name"] == "unet" and seg["n_class"] == "3"


def test_from_traincfg_takes_classes_size_and_id() -> None:
    cfg = {
        "label": json.dumps(
            [
                {"class_name": "background", "class_value": 0, "class_title": "bg", "class_color": "0,0,0"},
                {"class_name": "road", "class_value": 255, "class_title": "r", "class_color": "255,255,255"},
            ]
        ),
        "load_size": "40,30",
        "dataset_id": "49779ee7-1d00-4884-bf9a-dbc0802651e3",
    }
    spec = DatasetSpec.from_traincfg(cfg, "segmentation", train_images=2)
    assert spec.size == (40, 30) and spec.train_images == 2
    assert [c.name for c in spec.resolved_classes] == ["background", "road"]
    ds = generate(spec)
    assert ds.dataset_id == cfg["dataset_id"]
    assert json.loads(ds.labels_json()) == json.loads(cfg["label"])


def test_custom_classes_get_shapes_and_values() -> None:
    classes = (
        LabelClass("background", 10, "bg", (0, 0, 0)),
        LabelClass("farmland", 77, "f", (0, 255, 0)),
        LabelClass("pond", 200, "p", (0, 0, 255)),
    )
    ds = generate(DatasetSpec("segmentation", train_images=4, valid_images=1, classes=classes))
    found: set[int] = set()
    for key in ds.keys("train", "labels"):
        found |= set(np.unique(np.asarray(_image(ds.files[key]))).tolist())
    assert found == {10, 77, 200}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"task": "classification"}, "expected a task"),
        ({"task": "segmentation", "train_images": 0}, "at least 1 train"),
        ({"task": "segmentation", "size": (8, 64)}, "between 16 and 8192"),
        ({"task": "segmentation", "image_format": "gif"}, "png, jpg, tif"),
        (
            {
                "task": "segmentation",
                "classes": (LabelClass("road", 1, "r", (1, 1, 1)), LabelClass("x", 2, "x", (2, 2, 2))),
            },
            "'background' first",
        ),
        (
            {
                "task": "detection",
                "classes": (LabelClass("a", 1, "a", (1, 1, 1)), LabelClass("b", 1, "b", (2, 2, 2))),
            },
            "unique class values",
        ),
        ({"task": "change_detection", "classes": default_classes("segmentation")}, "exactly background"),
    ],
)
def test_bad_specs_say_what_was_expected(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        DatasetSpec(**kwargs)


def test_label_class_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="0..255"):
        LabelClass("x", 256, "x", (0, 0, 0))
    with pytest.raises(ValueError, match="three 0..255"):
        LabelClass("x", 1, "x", (0, 0, 300))
    with pytest.raises(ValueError, match="without commas"):
        LabelClass("a,b", 1, "x", (0, 0, 0))
    item = {"class_name": "r", "class_value": "5", "class_color": "1,2,3"}
    assert LabelClass.from_label(item).color == (1, 2, 3)


def test_detection_boxes_never_overlap_whatever_the_shapes() -> None:
    classes = (
        LabelClass("road", 1, "r", (1, 1, 1)),
        LabelClass("water", 2, "w", (2, 2, 2)),
        LabelClass("building", 3, "b", (3, 3, 3)),
    )
    ds = generate(DatasetSpec("detection", classes=classes, train_images=8, valid_images=1, size=(96, 96)))
    for key in ds.keys("train", "labels"):
        _, boxes = read_voc(ds.files[key])
        for i, a in enumerate(boxes):
            assert a.xmax > a.xmin and a.ymax > a.ymin
            for b in boxes[i + 1 :]:
                assert a.xmax <= b.xmin or b.xmax <= a.xmin or a.ymax <= b.ymin or b.ymax <= a.ymin, (a, b)
