"""Synthetic datasets: the in-memory ``Dataset`` and ``generate(spec)``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from pie_conformance.datasets import _draw
from pie_conformance.datasets._spec import DatasetSpec, LabelClass
from pie_conformance.datasets._voc import Box, write_voc

SPLITS: tuple[str, ...] = ("train", "valid")

#: The model name a generated traincfg carries for each task.
DEFAULT_MODEL_NAME: dict[str, str] = {
    "segmentation": "linknet34",
    "detection": "yolo",
    "change_detection": "siamdiff",
}


def derived_uuid(*parts: object) -> str:
    """A uuid4-shaped string that depends only on ``parts`` (so seeds give stable ids)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class DiskFiles(Mapping[str, bytes]):
    """Files of a dataset folder, read from disk only when asked for (for datasets too big for memory)."""

    def __init__(self, root: Path, keys: list[str]) -> None:
        self.root = root
        self._keys = sorted(keys)
        self._known = frozenset(self._keys)

    def __getitem__(self, key: str) -> bytes:
        if key not in self._known:
            raise KeyError(key)
        return (self.root / key).read_bytes()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True)
class Dataset:
    """A dataset in memory: its spec, its id and every file by its key relative to the dataset prefix."""

    spec: DatasetSpec
    dataset_id: str
    files: Mapping[str, bytes] = field(repr=False)
    base_cfg: Mapping[str, Any] | None = field(default=None, repr=False)  # a folder's own traincfg.json

    def __post_init__(self) -> None:
        if not isinstance(self.files, DiskFiles):  # files on disk stay there until read
            object.__setattr__(self, "files", MappingProxyType(dict(sorted(self.files.items()))))
        if self.base_cfg is not None:
            object.__setattr__(self, "base_cfg", MappingProxyType(dict(self.base_cfg)))

    @property
    def task(self) -> str:
        """The kit's task name."""
        return self.spec.task

    @property
    def kind(self) -> str:
        """``recognition``, ``segmentation`` or ``change_detection``: the platform's folder name."""
        return self.spec.kind

    @property
    def classes(self) -> tuple[LabelClass, ...]:
        """The label classes, background first where the task has one."""
        return self.spec.resolved_classes

    @property
    def prefix(self) -> str:
        """The key prefix in the bucket: ``devel/<owner>/dataset/<kind>/<dataset_id>/``."""
        return f"devel/{self.spec.owner}/dataset/{self.kind}/{self.dataset_id}/"

    def keys(self, split: str, folder: str) -> list[str]:
        """Relative keys under ``<split>/<folder>/``, sorted (e.g. ``keys("train", "images")``)."""
        start = f"{split}/{folder}/"
        return [k for k in self.files if k.startswith(start)]

    def labels_json(self) -> str:
        """The traincfg ``label`` string: a JSON list of the classes' label objects."""
        return json.dumps([c.to_label() for c in self.classes], ensure_ascii=False, separators=(",", ":"))

    def traincfg(self, **overrides: Any) -> dict[str, Any]:
        """A complete, valid platform traincfg for this dataset; ``overrides`` replace (or add) keys.

        A dataset read from a folder starts from that folder's ``traincfg.json``.
        """
        names = [c.name for c in self.classes]
        width, height = self.spec.size
        cfg: dict[str, Any] = {
            "auto_termination": 0,
            "batch_size": 2,
            "class_name": ",".join(names),
            "dataset_id": self.dataset_id,
            "epochs": 2,
            "gpu_num": 0,
            "label": self.labels_json(),
            "learning_rate": 0.001,
            "load_size": f"{width},{height}",
            "model_name": DEFAULT_MODEL_NAME[self.task],
            "n_class": str(sum(1 for n in names if n != "background")),
            "resume_path": "",
            "training_id": derived_uuid("pie-training", self.spec.seed, self.task, self.dataset_id),
        }
        if self.base_cfg is not None:
            cfg.update(self.base_cfg)
            cfg["dataset_id"] = self.dataset_id
        cfg.update(overrides)
        return cfg

    def write_to_dir(self, path: str | os.PathLike[str], traincfg: Mapping[str, Any] | None = None) -> Path:
        """Write ``train/``, ``valid/`` and ``traincfg.json`` into ``path`` (created if needed)."""
        root = Path(path)
        for key, data in self.files.items():
            target = root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        cfg = dict(traincfg) if traincfg is not None else self.traincfg()
        (root / "traincfg.json").write_text(
            json.dumps(cfg, indent=4, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return root

    def total_bytes(self) -> int:
        """The size of all files together."""
        return sum(len(b) for b in self.files.values())


def _encode(array: np.ndarray, image_format: str) -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(array)
    if image_format == "jpg":
        image.save(out, format="JPEG", quality=92)
    elif image_format == "tif":
        image.save(out, format="TIFF")
    else:
        # Level 1: textured pictures barely compress further, and encoding is most of the generation time.
        image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _label(array: np.ndarray, image_format: str) -> bytes:
    """An 8-bit single-band label, saved losslessly: TIFF for ``tif``, PNG data otherwise.

    A ``.jpg`` label holds PNG data: JPEG compression would change class values along every edge, and every
    reader that looks at the content (Pillow, OpenCV, GDAL) reads it as it is.
    """
    out = io.BytesIO()
    image = Image.fromarray(array.astype(np.uint8), mode="L")
    if image_format == "tif":
        image.save(out, format="TIFF")
    else:
        image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _foreground(spec: DatasetSpec) -> list[tuple[int, LabelClass, str]]:
    classes = spec.resolved_classes
    start = 0 if spec.task == "detection" else 1
    return [(i, c, _draw.shape_for(c.name, i)) for i, c in enumerate(classes) if i >= start]


def _segmentation(spec: DatasetSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    width, height = spec.size
    rgb = _draw.ground(rng, width, height)
    label = np.full((height, width), spec.resolved_classes[0].value, np.uint8)
    objects: list[_draw.Drawn] = []
    fg = _foreground(spec)
    for index, _cls, shape in fg:
        count = int(rng.integers(1, 3)) if shape in ("line", "blob") else int(rng.integers(1, 5))
        objects += [_draw.make(shape, index, rng, width, height) for _ in range(count)]
    objects.sort(key=lambda o: _draw.SHAPE_ORDER[o.shape])
    for obj in objects:
        _draw.paint(rgb, obj, rng)
        label[obj.mask] = spec.resolved_classes[obj.class_index].value
    return _draw.to_uint8(rgb), label


def _place_boxes(
    rng: np.random.Generator, width: int, height: int, count: int
) -> list[tuple[int, int, int, int]]:
    """Square boxes that neither overlap nor touch, so each box holds exactly one object."""
    short = min(width, height)
    low, high = max(8, short // 6), max(9, short // 3)
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(count * 20):
        if len(boxes) == count:
            break
        side = int(rng.integers(low, high + 1))
        if side >= min(width, height):
            side = min(width, height) - 1
        x0 = int(rng.integers(0, width - side + 1))
        y0 = int(rng.integers(0, height - side + 1))
        box = (x0, y0, x0 + side, y0 + side)
        if all(
            box[2] + 2 <= b[0] or b[2] + 2 <= box[0] or box[3] + 2 <= b[1] or b[3] + 2 <= box[1]
            for b in boxes
        ):
            boxes.append(box)
    return boxes


def _detection(spec: DatasetSpec, rng: np.random.Generator) -> tuple[np.ndarray, list[Box]]:
    width, height = spec.size
    rgb = _draw.ground(rng, width, height)
    if rng.random() < 0.5:  # an unlabelled road as a distractor, under the objects
        _draw.paint(rgb, _draw.make("line", -1, rng, width, height), rng)
    fg = _foreground(spec)
    placed = _place_boxes(rng, width, height, int(rng.integers(1, 5)))
    boxes: list[Box] = []
    for n, place in enumerate(placed):
        # The first objects cycle through the classes so every class appears across a dataset.
        index, cls, shape = fg[n % len(fg)] if n < len(fg) else fg[int(rng.integers(len(fg)))]
        obj = _draw.make(shape, index, rng, width, height, place)
        _draw.paint(rgb, obj, rng)
        xmin, ymin, xmax, ymax = obj.box()
        boxes.append(Box(cls.name, float(xmin), float(ymin), float(xmax), float(ymax)))
    return _draw.to_uint8(rgb), boxes


def _change(spec: DatasetSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    width, height = spec.size
    ground = _draw.ground(rng, width, height)
    shape = _foreground(spec)[0][2]
    context = [_draw.make("line", -1, rng, width, height)] if rng.random() < 0.6 else []
    persistent = [_draw.make(shape, 1, rng, width, height) for _ in range(int(rng.integers(0, 3)))]
    vanished = [_draw.make(shape, 1, rng, width, height) for _ in range(int(rng.integers(0, 3)))]
    appeared = [_draw.make(shape, 1, rng, width, height) for _ in range(int(rng.integers(1, 3)))]
    if rng.random() < 0.5:  # objects appear in some pairs and vanish in others
        vanished, appeared = appeared, vanished
    everything = context + persistent + vanished + appeared
    salt = int(rng.integers(1 << 30))

    def render(objects: list[_draw.Drawn]) -> tuple[np.ndarray, np.ndarray]:
        rgb = ground.copy()
        ids = np.zeros((height, width), np.int32)  # which object is on top: the semantic map to compare
        for obj in objects:
            ident = next(n for n, o in enumerate(everything, start=1) if o is obj)
            # The same texture for the same object in A and B: only real changes differ.
            _draw.paint(rgb, obj, np.random.default_rng([salt, ident]))
            ids[obj.mask] = ident
        return rgb, ids

    rgb_a, ids_a = render(context + persistent + vanished)
    rgb_b, ids_b = render(context + persistent + appeared)
    # The same place seen on another day: slight gain, offset and noise, none of it a change.
    gain = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    offset = rng.uniform(-8, 8, 3).astype(np.float32)
    rgb_b = rgb_b * gain + offset + 2.0 * rng.standard_normal(rgb_b.shape, dtype=np.float32)
    classes = spec.resolved_classes
    label = np.where(ids_a != ids_b, classes[1].value, classes[0].value).astype(np.uint8)
    return _draw.to_uint8(rgb_a), _draw.to_uint8(rgb_b), label


def _stems(spec: DatasetSpec) -> Iterator[tuple[str, int, str]]:
    # Stems are unique across train and valid, so a file read from the wrong split can be told apart.
    for i in range(spec.train_images):
        yield "train", i, f"{i:05d}"
    for i in range(spec.valid_images):
        yield "valid", i, f"{spec.train_images + i:05d}"


def generate(spec: DatasetSpec) -> Dataset:
    """Draw the dataset ``spec`` describes, in memory; the same spec always gives the same bytes."""
    dataset_id = spec.dataset_id or derived_uuid("pie-dataset", spec.seed, spec.task)
    files: dict[str, bytes] = {}
    ext, label_ext = spec.extension, spec.label_extension
    width, height = spec.size
    for split, i, stem in _stems(spec):
        # One generator per image: an image does not change when the count of others does.
        rng = np.random.default_rng([spec.seed, SPLITS.index(split), i])
        if spec.task == "segmentation":
            rgb, label = _segmentation(spec, rng)
            files[f"{split}/images/{stem}{ext}"] = _encode(rgb, spec.image_format)
            files[f"{split}/labels/{stem}{label_ext}"] = _label(label, spec.image_format)
        elif spec.task == "detection":
            rgb, boxes = _detection(spec, rng)
            files[f"{split}/images/{stem}{ext}"] = _encode(rgb, spec.image_format)
            files[f"{split}/labels/{stem}{label_ext}"] = write_voc(stem, width, height, boxes)
        else:
            rgb_a, rgb_b, label = _change(spec, rng)
            files[f"{split}/A/{stem}{ext}"] = _encode(rgb_a, spec.image_format)
            files[f"{split}/B/{stem}{ext}"] = _encode(rgb_b, spec.image_format)
            files[f"{split}/labels/{stem}{label_ext}"] = _label(label, spec.image_format)
    return Dataset(spec, dataset_id, files)
