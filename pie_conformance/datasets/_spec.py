"""What a synthetic dataset is made of: tasks, label classes and the generation spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pie_conformance.tasks import TASKS
from pie_conformance.traincfg import parse_labels

#: The three tasks the platform trains, as the kit names them.

#: Task -> the folder name the platform uses under ``devel/<owner>/dataset/`` (detection is "recognition").
KIND_BY_TASK: dict[str, str] = {
    "segmentation": "segmentation",
    "detection": "recognition",
    "change_detection": "change_detection",
}

#: Image formats the generator writes, with the file extension each gets.
EXTENSION_BY_FORMAT: dict[str, str] = {"png": ".png", "jpg": ".jpg", "tif": ".tif"}
#: The image format of a task's dataset when none is asked for (the guide's detection example is 100_0.jpg).
DEFAULT_IMAGE_FORMAT: dict[str, str] = {"segmentation": "png", "detection": "jpg", "change_detection": "png"}
_FORMAT_ALIASES = {"jpeg": "jpg", "tiff": "tif"}


@dataclass(frozen=True)
class LabelClass:
    """One entry of the traincfg ``label`` list: name, pixel value in label images, title, display colour."""

    name: str
    value: int
    title: str
    color: tuple[int, int, int]

    def __post_init__(self) -> None:
        if not self.name or "," in self.name:
            raise ValueError(f"expected a class name without commas, got {self.name!r}")
        if not 0 <= int(self.value) <= 255:
            raise ValueError(f"class {self.name!r}: expected a class_value in 0..255, got {self.value}")
        if len(self.color) != 3 or not all(0 <= int(c) <= 255 for c in self.color):
            raise ValueError(
                f"class {self.name!r}: expected a colour of three 0..255 integers, got {self.color}"
            )

    def to_label(self) -> dict[str, Any]:
        """The class as the platform's ``label`` JSON spells it (``class_color`` is ``"R,G,B"``)."""
        return {
            "class_name": self.name,
            "class_value": int(self.value),
            "class_title": self.title,
            "class_color": ",".join(str(int(c)) for c in self.color),
        }

    @classmethod
    def from_label(cls, item: Mapping[str, Any]) -> LabelClass:
        """Read one object of a traincfg ``label`` list; raises ValueError naming what is wrong."""
        try:
            color = tuple(int(c) for c in str(item["class_color"]).split(","))
            value = int(item["class_value"])
            name = str(item["class_name"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                "expected a label object with class_name, class_value and class_color 'R,G,B', "
                f"got {dict(item)!r}"
            ) from exc
        if len(color) != 3:
            raise ValueError(f"class {name!r}: expected class_color 'R,G,B', got {item['class_color']!r}")
        return cls(name, value, str(item.get("class_title", name)), (color[0], color[1], color[2]))


def default_classes(task: str) -> tuple[LabelClass, ...]:
    """The kit's default classes for a task; values are deliberately not 0..n-1 so that a script which
    forgets to map ``class_value`` to a training index is caught."""
    _check_task(task)
    if task == "segmentation":
        return (
            LabelClass("background", 0, "背景", (0, 0, 0)),
            LabelClass("building", 100, "建筑", (255, 0, 0)),
            LabelClass("water", 150, "水体", (0, 0, 255)),
            LabelClass("road", 255, "道路", (255, 255, 255)),
        )
    if task == "detection":
        return (
            LabelClass("airplane", 1, "飞机", (255, 0, 0)),
            LabelClass("storage_tank", 2, "油罐", (0, 255, 0)),
        )
    return (
        LabelClass("background", 0, "背景", (0, 0, 0)),
        LabelClass("change", 255, "变化", (255, 255, 255)),
    )


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"expected a task among {', '.join(TASKS)}, got {task!r}")


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"W,H"`` or ``"WxH"`` into (width, height); raises ValueError."""
    parts = text.lower().replace("x", ",").split(",")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"expected a size 'W,H' or 'WxH' of two integers, got {text!r}") from None
    return width, height


def normalise_format(image_format: str) -> str:
    """``png``, ``jpg`` or ``tif`` for any accepted spelling; raises ValueError."""
    fmt = image_format.lower().lstrip(".")
    fmt = _FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in EXTENSION_BY_FORMAT:
        raise ValueError(f"expected an image format among png, jpg, tif, got {image_format!r}")
    return fmt


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that decides a synthetic dataset; the same spec always gives the same bytes."""

    task: str
    train_images: int = 8
    valid_images: int = 4
    size: tuple[int, int] = (64, 64)  # (width, height), as traincfg load_size "W,H"
    classes: tuple[LabelClass, ...] | None = None  # None: default_classes(task)
    image_format: str = ""  # "": the task's DEFAULT_IMAGE_FORMAT
    seed: int = 0
    owner: str = "kit"
    dataset_id: str | None = None  # None: a uuid4 derived from the seed
    resolved_classes: tuple[LabelClass, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_task(self.task)
        if self.train_images < 1 or self.valid_images < 1:
            raise ValueError(
                "expected at least 1 train and 1 valid image, "
                f"got {self.train_images} and {self.valid_images}"
            )
        width, height = self.size
        if width < 16 or height < 16 or width > 8192 or height > 8192:
            raise ValueError(
                f"expected an image size between 16 and 8192 pixels a side, got {width}x{height}"
            )
        fmt = self.image_format or DEFAULT_IMAGE_FORMAT[self.task]
        object.__setattr__(self, "image_format", normalise_format(fmt))
        if not self.owner or "/" in self.owner:
            raise ValueError(f"expected an owner name without '/', got {self.owner!r}")
        classes = tuple(self.classes) if self.classes is not None else default_classes(self.task)
        if not classes:
            raise ValueError("expected at least one label class, got none")
        values = [c.value for c in classes]
        if len(set(values)) != len(values):
            raise ValueError(f"expected unique class values, got {values}")
        names = [c.name for c in classes]
        if len(set(names)) != len(names):
            raise ValueError(f"expected unique class names, got {names}")
        if self.task != "detection" and (len(classes) < 2 or classes[0].name != "background"):
            raise ValueError(
                f"{self.task}: expected 'background' first and at least one more class, got {names}"
            )
        if self.task == "change_detection" and len(classes) != 2:
            raise ValueError(
                f"change_detection: expected exactly background and one change class, got {names}"
            )
        object.__setattr__(self, "resolved_classes", classes)

    @property
    def kind(self) -> str:
        """The platform's folder name for the task (``recognition`` for detection)."""
        return KIND_BY_TASK[self.task]

    @property
    def extension(self) -> str:
        """The file extension of the images (``.png``, ``.jpg`` or ``.tif``)."""
        return EXTENSION_BY_FORMAT[self.image_format]

    @property
    def label_extension(self) -> str:
        """The labels' file extension: ``.xml`` for detection, else the images' own (as on the platform)."""
        return ".xml" if self.task == "detection" else self.extension

    def with_(self, **changes: Any) -> DatasetSpec:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @classmethod
    def from_traincfg(cls, cfg: Mapping[str, Any], task: str, **kw: Any) -> DatasetSpec:
        """A spec matching a traincfg: classes from ``label``, size from ``load_size``, its dataset id."""
        args: dict[str, Any] = {}
        label = cfg.get("label")
        if label not in (None, ""):
            # JSON or the Python-literal form scripts eval, read as validate-cfg reads it.
            items = parse_labels(label) if isinstance(label, str) else label
            if not isinstance(items, list):
                raise ValueError(f"expected 'label' to hold a JSON list, got {type(items).__name__}")
            args["classes"] = tuple(LabelClass.from_label(item) for item in items)
        if cfg.get("load_size"):
            args["size"] = parse_size(str(cfg["load_size"]))
        if cfg.get("dataset_id"):
            args["dataset_id"] = str(cfg["dataset_id"])
        args.update(kw)
        return cls(task=task, **args)
