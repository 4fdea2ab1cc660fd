"""Training parameters: read them from traincfg.json (or the JSON line on stdin) and decode every key."""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

#: The file the platform writes next to train.py; the same JSON also arrives as one line on stdin.
CONFIG_FILE = "traincfg.json"


class ConfigError(Exception):
    """The parameters cannot be read or a key has an unusable value."""


@dataclass(frozen=True)
class LabelClass:
    """One entry of the ``label`` parameter: a class, its pixel value in label images and its colour."""

    name: str
    value: int
    color: tuple[int, int, int]
    title: str = ""


@dataclass(frozen=True)
class Config:
    """Every parameter the platform sends, decoded into the types training needs."""

    training_id: str
    dataset_id: str | None
    resume_path: str
    class_names: tuple[str, ...]
    labels: tuple[LabelClass, ...]
    n_class: int
    load_size: tuple[int, int]  # (width, height), as the platform writes "W,H"
    model_name: str
    learning_rate: float
    epochs: int
    batch_size: int
    auto_termination: bool
    gpu_num: int

    @property
    def num_classes(self) -> int:
        """How many outputs the model has: one per label, in the labels' order."""
        return len(self.labels)

    @property
    def colors(self) -> list[tuple[int, int, int]]:
        """Class index -> RGB colour of that class in the pictures."""
        return [label.color for label in self.labels]

    @property
    def names(self) -> list[str]:
        """Class index -> class name for trainlog.json, which must use ``class_name``'s names.

        The labels' names when ``class_name`` has them all (in any order); else ``class_name`` by position.
        """
        own = [label.name for label in self.labels]
        if set(own) <= set(self.class_names) or len(self.class_names) != len(own):
            return own
        return list(self.class_names)

    def notes(self) -> list[str]:
        """Inconsistencies between keys that training works around (the labels decide)."""
        found = []
        others = sum(1 for label in self.labels if label.name != "background")
        if self.n_class != others:
            found.append(f"n_class is {self.n_class} but label has {others} class(es) besides background; "
                         f"training {len(self.labels)} outputs, one per label")
        if list(self.class_names) != [label.name for label in self.labels]:
            found.append(f"class_name {','.join(self.class_names)!r} differs from the labels' names; "
                         f"the labels' order decides the class indices")
        return found

    def value_to_index(self) -> dict[int, int]:
        """Pixel value in a label image (``class_value``, e.g. 0/100/255) -> class index."""
        return {label.value: i for i, label in enumerate(self.labels)}


def read_params(basedir: str) -> dict[str, Any]:
    """The raw parameters: traincfg.json in ``basedir`` first, else the JSON line on stdin."""
    path = os.path.join(basedir, CONFIG_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        source = path
    else:
        # Reading stdin only as a fallback: a script started by hand without a pipe would otherwise wait here.
        text = sys.stdin.read()
        source = "standard input"
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the parameters in {source} are not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"expected a JSON object in {source}, got {type(params).__name__}")
    return params


def parse_labels(raw: Any) -> tuple[LabelClass, ...]:
    """Decode ``label``: a JSON string, a Python-literal string (the guide uses ``eval``) or a list."""
    items = raw
    if isinstance(raw, str):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            try:
                # literal_eval instead of the guide's eval(): same forms accepted, no code executed.
                items = ast.literal_eval(raw)
            except (ValueError, SyntaxError) as exc:
                raise ConfigError(f"expected `label` to be a JSON list of objects, got {raw[:80]!r}") from exc
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"expected `label` to be a non-empty list, got {type(items).__name__}")
    labels = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"expected label #{position} to be an object, got {type(item).__name__}")
        try:
            value = int(item["class_value"])
            color = _parse_color(item.get("class_color", "0,0,0"))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"label #{position} has no usable class_value/class_color: {item!r}") from exc
        labels.append(LabelClass(str(item.get("class_name", f"class{position}")), value, color,
                                 str(item.get("class_title", ""))))
    return tuple(labels)


def _parse_color(raw: Any) -> tuple[int, int, int]:
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    rgb = tuple(max(0, min(255, int(float(part)))) for part in parts)
    if len(rgb) != 3:
        raise ValueError(f"expected 'R,G,B', got {raw!r}")
    return rgb  # type: ignore[return-value]


def parse_load_size(raw: Any) -> tuple[int, int]:
    """``"W,H"`` -> (W, H); a single number means a square."""
    parts = [p for p in str(raw).replace("x", ",").split(",") if p.strip()]
    try:
        sizes = [int(round(float(p))) for p in parts]
    except ValueError as exc:
        raise ConfigError(f"expected load_size 'W,H', got {raw!r}") from exc
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise ConfigError(f"expected load_size 'W,H' with positive integers, got {raw!r}")
    return sizes[0], sizes[1]


def from_params(params: dict[str, Any]) -> Config:
    """Decode the raw parameters; a missing or unusable key raises :class:`ConfigError`."""
    try:
        labels = parse_labels(params["label"])
        class_names = tuple(n.strip() for n in str(params.get("class_name", "")).split(",") if n.strip())
        dataset_id = str(params.get("dataset_id") or "") or None
        cfg = Config(
            training_id=str(params["training_id"]),
            dataset_id=dataset_id,
            resume_path=str(params.get("resume_path") or ""),
            class_names=class_names or tuple(label.name for label in labels),
            labels=labels,
            n_class=int(params.get("n_class") or len(labels)),
            load_size=parse_load_size(params["load_size"]),
            model_name=str(params["model_name"]),
            learning_rate=float(params["learning_rate"]),
            epochs=int(params["epochs"]),
            batch_size=int(params["batch_size"]),
            auto_termination=int(params.get("auto_termination") or 0) == 1,
            gpu_num=int(params.get("gpu_num") or 0),
        )
    except KeyError as exc:
        raise ConfigError(f"the parameters have no {exc.args[0]!r} key") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"a parameter has an unusable value: {exc}") from exc
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.learning_rate <= 0 or cfg.gpu_num < 0:
        raise ConfigError(
            f"expected epochs >= 1, batch_size >= 1, learning_rate > 0, gpu_num >= 0, got {cfg.epochs}, "
            f"{cfg.batch_size}, {cfg.learning_rate}, {cfg.gpu_num}"
        )
    if not cfg.model_name or "/" in cfg.model_name:
        raise ConfigError(f"expected model_name to be a plain file name, got {cfg.model_name!r}")
    return cfg


def load(basedir: str) -> Config:
    """Read and decode the parameters the platform gave this run."""
    return from_params(read_params(basedir))
