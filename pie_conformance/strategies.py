"""Hypothesis strategies for platform traincfgs and trainlogs, and targeted trainlog mutations.

For the kit's own tests and for users who test their tooling around the platform::

    from hypothesis import given
    from pie_conformance import strategies as pst

    @given(pst.traincfgs(task="segmentation"))
    def test_my_reader(cfg): ...

Generated values are always valid for the contract; :data:`LOG_MUTATIONS` lists changes that each break
exactly one LOG rule, as ``(name, rule ID, function)``.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from pie_conformance.rules.log import TIME_FORMAT, metric_kind
from pie_conformance.tasks import TASKS

__all__ = [
    "LOG_MUTATIONS",
    "METRIC_SETS",
    "TASKS",
    "Mutation",
    "class_names",
    "json_values",
    "labels",
    "traincfgs",
    "trainlogs",
]

#: The tasks of the platform; segmentation and change detection have a background class first.
#: Metric key sets real scripts use (the guide's two, and a third with kappa); "loss" is added to each.
METRIC_SETS: tuple[tuple[str, ...], ...] = (
    ("precision", "recall", "score", "IoU"),
    ("P", "R", "F1_score", "mAP"),
    ("acc", "mIoU", "kappa"),
)

_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_-"
_RESERVED = {"all", "background"}


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"expected task to be one of {', '.join(TASKS)}, got {task!r}")
    return task


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values (no NaN or infinities, which JSON cannot hold), nested lists and objects."""
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=max_leaves,
    )


def class_names(min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[list[str]]:
    """Unique class names: no commas, never ``all`` or ``background``, sometimes with capitals or digits."""
    name = st.text(_NAME_ALPHABET + "ABCXYZ", min_size=1, max_size=12).filter(
        lambda n: n.lower() not in _RESERVED
    )
    return st.lists(name, min_size=min_size, max_size=max_size, unique_by=str.lower)


@st.composite
def labels(
    draw: st.DrawFn, task: str = "segmentation", min_classes: int = 1, max_classes: int = 8
) -> list[dict[str, Any]]:
    """A valid ``label`` list (not encoded): unique names, class_values 0-255 and colours.

    ``min_classes``/``max_classes`` count the classes without background. Segmentation and change detection
    start with ``background`` (class_value 0); change detection has exactly one change class.
    """
    _check_task(task)
    if task == "change_detection":
        min_classes = max_classes = 1
    names = draw(class_names(min_classes, max_classes))
    with_background = task != "detection"
    count = len(names) + with_background
    # Unusual but valid pixel values and colours: anything 0-255, unique values, distinct colours.
    # Edge values (255, as in the guide's road example; 1; 128) come up often, not by luck.
    pixel = st.one_of(st.sampled_from([255, 1, 128]), st.integers(1, 255))
    values = draw(st.lists(pixel, min_size=len(names), max_size=len(names), unique=True))
    colors = draw(
        st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=count, max_size=count, unique=True)
    )
    titles = st.text(st.characters(codec="utf-8", categories=("L", "N")), min_size=1, max_size=6)
    out: list[dict[str, Any]] = []
    if with_background:
        out.append({"class_name": "background", "class_value": 0, "class_title": "背景",
                    "class_color": ",".join(map(str, colors.pop(0)))})
    for name, value, color in zip(names, values, colors, strict=True):
        item: dict[str, Any] = {"class_name": name, "class_value": value, "class_title": draw(titles),
                                "class_color": ",".join(map(str, color))}
        if draw(st.booleans()):
            item = {"class_number": draw(st.integers(0, 100_000)), **item}
        out.append(item)
    return out


def _uuid(draw: st.DrawFn) -> str:
    return str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4))


@st.composite
def traincfgs(draw: st.DrawFn, task: str = "segmentation") -> dict[str, Any]:
    """A valid traincfg with every key and the platform's types (label as JSON or the Python-literal form)."""
    items = draw(labels(task=task))
    encoded = json.dumps(items, ensure_ascii=draw(st.booleans())) if draw(st.booleans()) else repr(items)
    width, height = draw(st.integers(1, 4096)), draw(st.integers(1, 4096))
    resume = draw(st.one_of(st.just(""), st.builds(
        lambda owner, rid: f"s3://pie-engine-ai/devel/{owner}/model/{rid}/",
        st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8), st.uuids().map(str),
    )))
    return {
        "training_id": _uuid(draw),
        "dataset_id": draw(st.one_of(st.just(""), st.uuids().map(str))),
        "resume_path": resume,
        "class_name": ",".join(item["class_name"] for item in items),
        "label": encoded,
        "n_class": str(sum(1 for item in items if item["class_name"] != "background")),
        "load_size": f"{width},{height}",
        "model_name": draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=16)),
        "learning_rate": draw(st.floats(min_value=1e-8, max_value=1.0)),
        "epochs": draw(st.integers(1, 500)),
        "batch_size": draw(st.integers(1, 64)),
        "auto_termination": draw(st.integers(0, 1)),
        "gpu_num": draw(st.integers(0, 8)),
    }


def _metric_value(draw: st.DrawFn, key: str) -> float | int:
    kind = metric_kind(key)
    if kind == "ratio":
        return draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0, 1])))
    if kind == "kappa":
        return draw(st.floats(-1.0, 1.0))
    if kind == "loss":
        return draw(st.floats(0.0, 1e6))
    return draw(st.floats(-1e6, 1e6))


@st.composite
def trainlogs(
    draw: st.DrawFn, traincfg: Mapping[str, Any], epochs: int | st.SearchStrategy[int] | None = None
) -> dict[str, Any]:
    """A valid trainlog for ``traincfg`` after ``epochs`` epochs (default: 0 to 4), as a parsed object."""
    k = draw(epochs) if isinstance(epochs, st.SearchStrategy) else (draw(st.integers(0, 4)) if epochs is None
                                                                     else epochs)
    metrics = (*draw(st.sampled_from(METRIC_SETS)), "loss")
    names = str(traincfg.get("class_name", "")).split(",")
    created = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)))
    created = created.replace(microsecond=0)
    as_text = draw(st.booleans())  # the guide writes "epoch": "1", its notebook epoch + 1

    def split() -> list[dict[str, Any]]:
        out = [{"class": "all", "values": {m: _metric_value(draw, m) for m in metrics}}]
        for name in draw(st.lists(st.sampled_from(names), unique=True)) if names else []:
            out.append({"class": name, "values": {m: _metric_value(draw, m) for m in metrics if m != "loss"}})
        return out

    entries = [
        {"epoch": str(i) if as_text else i, "train": split(), "valid": split()} for i in range(1, k + 1)
    ]
    best: Any = ""
    if k:
        chosen = draw(st.lists(st.sampled_from(metrics), min_size=1, unique=True))
        best = {m: _metric_value(draw, m) for m in chosen}
    elif draw(st.booleans()):
        best = {}
    end = ""
    if k and draw(st.booleans()):
        end = (created + timedelta(seconds=draw(st.integers(0, 10**6)))).strftime(TIME_FORMAT)
    return {
        "training_id": traincfg.get("training_id", ""),
        "create_time": created.strftime(TIME_FORMAT),
        "description": {m: draw(st.sampled_from(["精确度", "召回率", m, "F1分数"])) for m in metrics},
        "epochs": entries,
        "best": best,
        "end_time": end,
    }


# -- mutations --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """A change to a valid trainlog (with at least one epoch) that breaks exactly ``rule``."""

    name: str
    rule: str
    apply: Callable[[dict[str, Any]], bytes]  # the valid log in, the mutated file's bytes out

    def __call__(self, log: Mapping[str, Any]) -> bytes:
        """The mutated file; ``log`` itself is not changed."""
        return self.apply(copy.deepcopy(dict(log)))


def _dump(log: Any) -> bytes:
    return json.dumps(log, indent=4, ensure_ascii=False).encode("utf-8")


def _first_key(log: dict[str, Any], kind: str | None) -> str:
    return next(k for k in log["epochs"][0]["train"][0]["values"] if metric_kind(k) == kind)


def _set_value(log: dict[str, Any], kind: str | None, value: Any) -> bytes:
    values = log["epochs"][0]["train"][0]["values"]
    values[_first_key(log, kind)] = value
    return _dump(log)


def _with(log: dict[str, Any], **members: Any) -> bytes:
    log.update(members)
    return _dump(log)


def _invalid_utf8(log: dict[str, Any]) -> bytes:
    log["description"][next(iter(log["description"]))] = "@@BAD@@"
    return _dump(log).replace(b"@@BAD@@", b"\xff\xfe")


def _renumber_from_zero(log: dict[str, Any]) -> bytes:
    for i, entry in enumerate(log["epochs"]):
        entry["epoch"] = i
    return _dump(log)


def _class_all_renamed(log: dict[str, Any]) -> bytes:
    log["epochs"][0]["valid"][0]["class"] = "ALL"
    return _dump(log)


def _unknown_class(log: dict[str, Any]) -> bytes:
    log["epochs"][-1]["train"].append({"class": "no_such_class", "values": {}})
    return _dump(log)


def _undescribed_metric(log: dict[str, Any]) -> bytes:
    log["epochs"][0]["train"][0]["values"]["undescribed_metric"] = 0.5
    return _dump(log)


def _undescribed_best(log: dict[str, Any]) -> bytes:
    log["best"]["undescribed_metric"] = 0.5
    return _dump(log)


def _negative_loss(log: dict[str, Any]) -> bytes:
    log["epochs"][-1]["valid"][0]["values"]["loss"] = -0.25
    return _dump(log)


def _best_ratio(log: dict[str, Any]) -> bytes:
    ratio = next(k for k in log["description"] if metric_kind(k) == "ratio")
    log["best"][ratio] = 2.0
    return _dump(log)


def _best_text(log: dict[str, Any]) -> bytes:
    key = next(iter(log["best"]))
    log["best"][key] = str(log["best"][key])
    return _dump(log)


def _end_before_create(log: dict[str, Any]) -> bytes:
    created = datetime.strptime(log["create_time"], TIME_FORMAT)
    return _with(log, end_time=(created - timedelta(seconds=1)).strftime(TIME_FORMAT))


def _drop(key: str) -> Callable[[dict[str, Any]], bytes]:
    def apply(log: dict[str, Any]) -> bytes:
        del log[key]
        return _dump(log)

    return apply


def _train_not_list(log: dict[str, Any]) -> bytes:
    log["epochs"][0]["train"] = {"class": "all"}
    return _dump(log)


def _renumber_gap(log: dict[str, Any]) -> bytes:
    entry = log["epochs"][-1]
    entry["epoch"] = (str if isinstance(entry["epoch"], str) else int)(len(log["epochs"]) + 1)
    return _dump(log)


#: Targeted mutations of a valid trainlog with at least one epoch, each breaking exactly one rule (checked
#: with the traincfg the log was made for, not final, and without a progress k).
LOG_MUTATIONS: tuple[Mutation, ...] = (
    Mutation("NaN value", "LOG002",
             lambda log: json.dumps({**log, "best": {**log["best"], "x": float("nan")}}).encode()),
    Mutation("trailing garbage", "LOG002", lambda log: _dump(log) + b"\n}"),
    Mutation("two documents", "LOG002", lambda log: _dump(log) + _dump(log)),
    Mutation("invalid UTF-8", "LOG002", _invalid_utf8),
    Mutation("byte order mark", "LOG002", lambda log: b"\xef\xbb\xbf" + _dump(log)),
    Mutation("truncated file", "LOG002", lambda log: _dump(log)[:-2]),
    Mutation("missing end_time", "LOG003", _drop("end_time")),
    Mutation("missing description", "LOG003", _drop("description")),
    Mutation("train not a list", "LOG003", _train_not_list),
    Mutation("epochs not a list", "LOG003", lambda log: _with(log, epochs={"1": log["epochs"][0]})),
    Mutation("training_id not a string", "LOG003", lambda log: _with(log, training_id=None)),
    Mutation("other training_id", "LOG004", lambda log: _with(log, training_id=log["training_id"] + "-x")),
    Mutation("create_time format", "LOG005",
             lambda log: _with(log, create_time=log["create_time"].replace("-", "/"))),
    Mutation("end_time before create_time", "LOG005", _end_before_create),
    Mutation("numbering from 0", "LOG006", _renumber_from_zero),
    Mutation("numbering gap", "LOG006", _renumber_gap),
    Mutation("class all renamed", "LOG007", _class_all_renamed),
    Mutation("unknown class", "LOG007", _unknown_class),
    Mutation("undescribed metric", "LOG008", _undescribed_metric),
    Mutation("undescribed best metric", "LOG008", _undescribed_best),
    Mutation("ratio above 1", "LOG011", lambda log: _set_value(log, "ratio", 1.5)),
    Mutation("percentage", "LOG011", lambda log: _set_value(log, "ratio", 87.5)),
    Mutation("metric as text", "LOG009", lambda log: _set_value(log, "ratio", "0.5")),
    Mutation("metric null", "LOG009", lambda log: _set_value(log, "loss", None)),
    Mutation("negative loss", "LOG011", _negative_loss),
    Mutation("overflowing number", "LOG009",
             lambda log: _set_value(log, "loss", 1.0).replace(b'"loss": 1.0', b'"loss": 1e999', 1)),
    Mutation("best ratio above 1", "LOG011", _best_ratio),
    Mutation("best empty after an epoch", "LOG010", lambda log: _with(log, best="")),
    Mutation("best value as text", "LOG010", _best_text),
)
