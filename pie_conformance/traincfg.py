"""The traincfg: its keys, the ``label`` decoder and a tolerant typed view for rules and the harness."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LABEL_KEYS", "MAX_LABEL_CHARS", "REQUIRED_KEYS", "TrainCfg", "parse_color", "parse_labels"]

#: Every key of the traincfg with the JSON type the platform sends (CONTRACT section 1).
REQUIRED_KEYS: dict[str, type | tuple[type, ...]] = {
    "training_id": str,
    "dataset_id": str,
    "resume_path": str,
    "class_name": str,
    "label": str,
    "n_class": str,
    "load_size": str,
    "model_name": str,
    "learning_rate": (int, float),
    "epochs": int,
    "batch_size": int,
    "auto_termination": int,
    "gpu_num": int,
}

#: The keys every label object must have (``class_number`` is optional).
LABEL_KEYS: tuple[str, ...] = ("class_name", "class_value", "class_title", "class_color")

#: ``label`` strings longer than this are refused rather than decoded (the literal parser is recursive).
MAX_LABEL_CHARS = 1_000_000


def parse_labels(label: str) -> list[dict[str, Any]]:
    """Decode the traincfg ``label``: JSON first, else the Python-literal form scripts eval (never run).

    Returns the list of label objects; raises ValueError with a plain message when the text is neither
    form or is not a list of objects. The contents of each object are not judged here (rule CFG002 does).
    """
    if not isinstance(label, str):
        raise ValueError(f"expected label to be a string, got {type(label).__name__}")
    if len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"label is {len(label)} characters long, over the limit of {MAX_LABEL_CHARS}")
    try:
        value: Any = json.loads(label)
    except RecursionError:
        raise ValueError("label is nested too deeply to decode") from None
    except ValueError as json_exc:
        # Scripts do eval(label), so the Python-literal form (single quotes, True/None) works on the
        # platform too; ast.literal_eval reads it without running any code.
        try:
            value = ast.literal_eval(label.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ValueError(
                f"label is neither JSON ({json_exc.args[0] if json_exc.args else json_exc}) "
                "nor a Python literal"
            ) from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise ValueError(f"expected label to decode to a list of label objects, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"expected label item {i} to be an object, got {type(item).__name__}")
    return value


def parse_color(color: object) -> tuple[int, int, int] | None:
    """``"R,G,B"`` as three 0-255 integers, or None when it is not that."""
    if not isinstance(color, str):
        return None
    parts = color.split(",")
    if len(parts) != 3:
        return None
    try:
        rgb = tuple(int(p.strip()) for p in parts)
    except ValueError:
        return None
    if not all(0 <= c <= 255 for c in rgb):
        return None
    return (rgb[0], rgb[1], rgb[2])


def json_int(value: object) -> int | None:
    """A JSON integer as an int (4.0 counts, as in JSON Schema; a bool does not), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _load_size(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    parts = value.split(",")
    if len(parts) != 2:
        return None
    try:
        w, h = (int(p.strip()) for p in parts)
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


@dataclass(frozen=True)
class TrainCfg:
    """A tolerant typed view of a traincfg mapping: each field is None where the value is unusable."""

    raw: Mapping[str, Any]
    training_id: str | None
    dataset_id: str | None
    resume_path: str | None
    class_names: list[str] | None
    labels: list[dict[str, Any]] | None
    n_class: int | None
    load_size: tuple[int, int] | None  # (width, height)
    model_name: str | None
    learning_rate: float | None
    epochs: int | None
    batch_size: int | None
    auto_termination: int | None
    gpu_num: int | None

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> TrainCfg:
        """Build the view from a parsed traincfg (any mapping; missing or mistyped keys give None)."""
        if not isinstance(d, Mapping):
            d = {}
        class_name = _str(d.get("class_name"))
        try:
            labels = parse_labels(d["label"]) if isinstance(d.get("label"), str) else None
        except ValueError:
            labels = None
        n_class_text = _str(d.get("n_class"))
        lr = d.get("learning_rate")
        return cls(
            raw=d,
            training_id=_str(d.get("training_id")),
            dataset_id=_str(d.get("dataset_id")),
            resume_path=_str(d.get("resume_path")),
            class_names=class_name.split(",") if class_name is not None else None,
            labels=labels,
            n_class=int(n_class_text) if n_class_text is not None and n_class_text.isascii()
            and n_class_text.isdigit() else None,
            load_size=_load_size(d.get("load_size")),
            model_name=_str(d.get("model_name")),
            learning_rate=_float(lr),
            epochs=json_int(d.get("epochs")),
            batch_size=json_int(d.get("batch_size")),
            auto_termination=json_int(d.get("auto_termination")),
            gpu_num=json_int(d.get("gpu_num")),
        )

    @property
    def colors(self) -> dict[tuple[int, int, int], str] | None:
        """Each label's ``class_color`` as RGB -> its class_name (None when labels are unusable)."""
        if self.labels is None:
            return None
        out: dict[tuple[int, int, int], str] = {}
        for item in self.labels:
            rgb = parse_color(item.get("class_color"))
            if rgb is not None:
                out[rgb] = str(item.get("class_name"))
        return out
