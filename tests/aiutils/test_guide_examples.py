"""The guide's own code, unchanged, against the mock: only names it leaves undefined are defined around it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import torch
from conftest import make_runner
from guide_snippets import (
    DATALOADER_1_3_3,
    IMAGE_DATASET_1_3_2,
    IMPORTS_1_1,
    INIT_3_2,
    LOAD_MODEL_1_2_2,
    NOTEBOOK_2_2,
    PARAMS_1_2_2,
    READ_IMAGES_3_2,
    READ_LABEL_3_2,
    RESUME_3_3,
)
from shim_support import WEIGHTS_PREFIX, ScriptRunner, last_json

from pie_conformance.datasets import Dataset
from pie_conformance.s3 import BUCKET, DatasetStore, MockS3Server


def test_notebook_example_2_2(run_script: ScriptRunner, datasets: dict[str, Dataset]) -> None:
    ds = datasets["change_detection"]
    code = (
        "# Left undefined by the guide: the dataset's S3 path, as s3GetImg().path gives it.\n"
        "from aiUtils import aiUtils as _kit\n"
        "dataset_path = _kit.s3GetImg().path\n\n" + NOTEBOOK_2_2
    )
    result = run_script(code, dataset="change_detection")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Count of train image files: 3",
        f"First train image file path: {ds.prefix}train/A/00000.png",
    ]


def test_reading_example_3_2(run_script: ScriptRunner, datasets: dict[str, Dataset]) -> None:
    ds = datasets["detection"]
    code = (
        "# Left undefined by the guide: the parsed arguments (3.1) and the name train_img_path, which its\n"
        "# code uses for the prefix it has just computed as train_images_path.\n"
        "import argparse\n"
        f"args = argparse.Namespace(dataset_id={ds.dataset_id!r})\n"
        "from aiUtils import aiUtils as _kit\n"
        "train_img_path = '/'.join((_kit.s3GetImg(args.dataset_id).path + 'train/images').split('/')[3:])\n\n"
        + INIT_3_2
        + READ_IMAGES_3_2
        + READ_LABEL_3_2
    )
    result = run_script(code, dataset=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Count of train image files: 3",
        f"First train image file path: {ds.prefix}train/images/00000.jpg",  # the guide: 100_0.jpg
        "image size: (32, 32)",
        f"{ds.prefix}train/labels/00000.xml",
        repr(ds.files["train/labels/00000.xml"]),
    ]
    assert repr(ds.files["train/labels/00000.xml"]).startswith("b'<annotation>\\n  <folder>VOC</folder>\\n")


def _adapt(snippet: str, changes: list[tuple[str, str]]) -> str:
    for old, new in changes:
        assert old in snippet, old
        snippet = snippet.replace(old, new)
    return snippet


# What the guide says to change for the other layouts: detection labels are .xml (its comment
# "目标识别则需要将后缀换为xml"), change detection reads A/ and B/ (its section 3.2 layout).
_LABEL_LINE = "label_path = image_path.replace('images', 'labels')"
_READ_LABEL = "pillowLable = Image.open(io.BytesIO(labelBody))\n        label = np.asarray(pillowLable)"
LAYOUT_CHANGES = {
    "segmentation": [],
    "detection": [
        (_LABEL_LINE, _LABEL_LINE + ".rsplit('.', 1)[0] + '.xml'"),
        (
            _READ_LABEL,
            "label = [[float(b.find(t).text) for t in ('xmin', 'ymin', 'xmax', 'ymax')]\n"
            "                 for b in ET.fromstring(labelBody).iter('bndbox')]",
        ),
    ],
    "change_detection": [
        ('s3Client.getImages(path + "images")', 's3Client.getImages(path + "A")'),
        (_LABEL_LINE, "label_path = image_path.replace('/A/', '/labels/')"),
        (
            "img = np.asarray(pillowImage)",
            "img = np.concatenate([np.asarray(pillowImage), np.asarray(Image.open(io.BytesIO(\n"
            "            s3Client.getImgXmlArray(image_path.replace('/A/', '/B/')))))], axis=2)",
        ),
    ],
}

LINKNET34 = """\
import torch


class LinkNet34(torch.nn.Module):
    def __init__(self, n_class):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, n_class + 1, 1)
"""

EPILOGUE = """
import json as _json
_train = [[list(img.shape), list(lbl.shape)] for img, lbl in train_data_loader]
_valid = [list(img.shape) for img, _ in valid_data_loader]
_values = sorted({int(v) for _, lbl in train_data_loader for v in lbl.unique()})
print(_json.dumps({"train": _train, "valid": _valid, "values": _values, "n_class": n_class,
                   "rgb_value": {",".join(map(str, k)): v for k, v in rgb_value.items()}}))
"""


LAYOUTS = ("segmentation", "detection", "change_detection")


@pytest.fixture(scope="module")
def layout_runs(
    s3_server: MockS3Server, datasets: dict[str, Dataset], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The guide's data pipeline over each layout, all three in one child process (one torch import)."""
    folder = tmp_path_factory.mktemp("guide_layouts")
    (folder / "linknet34.py").write_text(LINKNET34, encoding="utf-8")  # the guide's own network module
    for task in LAYOUTS:
        code = (
            IMPORTS_1_1
            + ("import xml.etree.ElementTree as ET\n" if task == "detection" else "")
            + "\n# The platform sends the parameters as one JSON line on stdin (guide 1.2.1).\n"
            + "params = json.loads(input())\n"
            + "import torch  # the guide imports it only in 1.4.3, after ImageDataset has used it\n"
            + PARAMS_1_2_2
            + LOAD_MODEL_1_2_2
            + "\n# Left undefined by the guide: the dataset's S3 path.\ndataset_path = s3Client.path\n"
            + _adapt(IMAGE_DATASET_1_3_2, LAYOUT_CHANGES[task])
            + DATALOADER_1_3_3
            + EPILOGUE
        )
        (folder / f"guide_{task}.py").write_text(code, encoding="utf-8")
    # Boxes vary in number per image: the detection example batches one image at a time.
    cfgs = {t: datasets[t].traincfg(batch_size=1 if t == "detection" else 2) for t in LAYOUTS}
    driver = "import runpy\n" + "".join(
        f"runpy.run_path('guide_{t}.py', run_name='__main__')\n" for t in LAYOUTS
    )
    result = make_runner(s3_server, datasets, folder)(
        driver, dataset=None, stdin="".join(json.dumps(cfgs[t]) + "\n" for t in LAYOUTS), timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    return {t: (cfgs[t], json.loads(line)) for t, line in zip(LAYOUTS, lines[-3:], strict=True)}


@pytest.mark.parametrize("task", LAYOUTS)
def test_image_dataset_and_dataloader_over_each_layout(
    layout_runs: dict[str, Any], datasets: dict[str, Dataset], task: str
) -> None:
    ds = datasets[task]
    cfg, got = layout_runs[task]
    channels = 6 if task == "change_detection" else 3
    assert sorted(got["train"])[-1][0] == [cfg["batch_size"], 32, 32, channels]
    assert sum(batch[0][0] for batch in got["train"]) == 3 and sum(b[0] for b in got["valid"]) == 2
    if task == "detection":
        assert all(batch[1][2] == 4 for batch in got["train"])  # (1, boxes, 4)
    else:
        assert set(got["values"]) <= {c.value for c in ds.classes} and len(got["values"]) >= 2
    assert got["rgb_value"] == {",".join(str(x) for x in c.color): c.value for c in ds.classes}
    assert got["n_class"] == int(cfg["n_class"])


YOLO_BODY = """
import argparse
import os
import numpy as np
import torch
from aiUtils import aiUtils
# Left undefined by the guide: its parsed arguments (3.1), the YOLOv4 network, its anchors and class
# count, and the interface of 3.2.
args = argparse.Namespace(resume_path=RESUME, model_name="yolov4", dataset_id=DATASET_ID)
anchors = [[(10, 13), (16, 30), (33, 23)]]
num_classes = 2


class YoloBody(torch.nn.Module):
    def __init__(self, num_anchors, num_classes):
        super().__init__()
        self.backbone = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Conv2d(4, num_anchors * (5 + num_classes), 1)


dataset_interface = aiUtils.s3GetImg(args.dataset_id)
"""

RESUME_EPILOGUE = """
import json
print(json.dumps({
    "downloaded": os.path.exists(basedir + '/' + args.model_name + ".th"),
    "backbone_loaded": bool((model.backbone.weight == 1).all()),
    "head_kept": not bool((model.head.weight == 1).all()),
}))
"""


def test_resume_example_3_3(
    run_script: ScriptRunner, datasets: dict[str, Dataset], s3_server: MockS3Server
) -> None:
    # A checkpoint whose head was trained for 7 classes: only the backbone matches the model's shapes.
    state = {
        "backbone.weight": torch.ones(4, 3, 3, 3),
        "backbone.bias": torch.ones(4),
        "head.weight": torch.ones(36, 4, 1, 1),
        "head.bias": torch.ones(36),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    DatasetStore(s3_server.endpoint_url).put_object(WEIGHTS_PREFIX + "yolov4.th", buffer.getvalue())
    prelude = YOLO_BODY.replace("RESUME", repr(f"s3://{BUCKET}/{WEIGHTS_PREFIX}")).replace(
        "DATASET_ID", repr(datasets["detection"].dataset_id)
    )
    got = last_json(run_script(prelude + RESUME_3_3 + RESUME_EPILOGUE, dataset=None))
    assert got == {"downloaded": True, "backbone_loaded": True, "head_kept": True}
