"""CFG rules: the traincfg the platform sends, judged from the parsed JSON value alone.

Each rule takes the parsed traincfg (any JSON value: a non-object is CFG001's finding, the other rules
then have nothing to judge) and yields problems.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from pie_conformance.findings import Problem
from pie_conformance.rules import Phase, rule
from pie_conformance.traincfg import LABEL_KEYS, REQUIRED_KEYS, parse_color, parse_labels

PATH = "traincfg.json"

_JSON_TYPE_OF = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
_EXAMPLES = {
    "training_id": '"57fc8152-c4f5-44b5-a25d-bc043a624d4b"',
    "dataset_id": '"49779ee7-1d00-4884-bf9a-dbc0802651e3"',
    "resume_path": '""',
    "class_name": '"background,road"',
    "label": '"[{\\"class_name\\":\\"airplane\\",\\"class_value\\":1,\\"class_title\\":\\"...\\",'
    '\\"class_color\\":\\"255,0,0\\"}]"',
    "n_class": '"1"',
    "load_size": '"608,608"',
    "model_name": '"yolov4"',
    "learning_rate": "0.0003",
    "epochs": "80",
    "batch_size": "4",
    "auto_termination": "0",
    "gpu_num": "1",
}
# An S3 folder URL: bucket (S3 naming, leniently) then at least one key part, ending in "/".
_RESUME_RE = re.compile(r"s3://[A-Za-z0-9][A-Za-z0-9.\-_]{1,62}/(?:[^/]+/)+")
_LOAD_SIZE_RE = re.compile(r"\s*([0-9]+)\s*,\s*([0-9]+)\s*")


def json_type(value: object) -> str:
    """The JSON type name of a parsed value (integer and number told apart)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if math.isfinite(value) and value.is_integer() else "number"
    return _JSON_TYPE_OF.get(type(value), type(value).__name__)


def _short(value: object, limit: int = 60) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a value nested nearly as deep as the parser allows
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    from pie_conformance.schemas import load_schema

    return Draft202012Validator(load_schema("traincfg"))


@rule("CFG001", phase=Phase.CONFIG)
def every_key_with_its_type(cfg: Any) -> Iterator[Problem]:
    """The traincfg has every key, each with the platform's JSON type (schema traincfg)."""
    if not isinstance(cfg, dict):
        yield Problem(
            f"expected the traincfg to be a JSON object, got {json_type(cfg)}",
            hint="the platform sends one object with the keys " + ", ".join(REQUIRED_KEYS),
            path=PATH,
        )
        return
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        yield Problem(
            f"expected every key of the platform's traincfg, got none for {', '.join(missing)}",
            hint="add " + ", ".join(f'"{k}": {_EXAMPLES[k]}' for k in missing),
            path=PATH,
        )
    # The schema is the reference for types; errors on keys already reported missing are skipped.
    for err in sorted(_validator().iter_errors(cfg), key=lambda e: [str(p) for p in e.absolute_path]):
        if err.validator == "required":
            continue
        key = str(err.absolute_path[0]) if err.absolute_path else "?"
        value = cfg.get(key)
        if err.validator == "type":
            want = err.validator_value
            yield Problem(
                f"expected {key} to be a JSON {want}, got {json_type(value)} {_short(value)}",
                hint=f'the platform sends "{key}": {_EXAMPLES.get(key, want)}',
                path=PATH,
            )
        elif err.validator == "pattern" and key == "n_class":
            yield Problem(
                f"expected n_class to be a string holding an integer, got {_short(value)}",
                hint='n_class counts the classes without background, as a string: "n_class": "1"',
                path=PATH,
            )
        else:  # a constraint added to the schema later: report it in the schema's words
            yield Problem(f"{key}: {err.message}", path=PATH)


def _labels(cfg: Any) -> list[dict[str, Any]] | None:
    if not isinstance(cfg, dict) or not isinstance(cfg.get("label"), str):
        return None
    try:
        return parse_labels(cfg["label"])
    except ValueError:
        return None


@rule("CFG002", phase=Phase.CONFIG)
def labels_decode(cfg: Any) -> Iterator[Problem]:
    """``label`` decodes to a non-empty list of label objects with valid colours and unique values."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("label"), str):
        return  # CFG001's finding
    try:
        labels = parse_labels(cfg["label"])
    except ValueError as exc:
        yield Problem(
            f"expected label to decode to a list of label objects, got: {exc}",
            hint='label is a JSON string such as "[{\\"class_name\\":\\"road\\",\\"class_value\\":1,'
            '\\"class_title\\":\\"road\\",\\"class_color\\":\\"255,0,0\\"}]" (json.dumps of the list)',
            path=PATH,
        )
        return
    if not labels:
        yield Problem("expected at least one label object, got an empty list",
                      hint="label lists every class chosen for training", path=PATH)
        return
    seen: dict[int, int] = {}
    for i, item in enumerate(labels):
        name = item.get("class_name", f"#{i}")
        missing = [k for k in LABEL_KEYS if k not in item]
        if missing:
            yield Problem(
                f"expected label {i} ({_short(name)}) to have {', '.join(LABEL_KEYS)}, got none for "
                f"{', '.join(missing)}",
                hint="each label object is {class_name, class_value, class_title, class_color}",
                path=PATH,
            )
        if "class_name" in item and not isinstance(item["class_name"], str):
            yield Problem(f"expected label {i}'s class_name to be a string, got {_short(item['class_name'])}",
                          path=PATH)
        if "class_color" in item and parse_color(item["class_color"]) is None:
            yield Problem(
                f"expected label {i} ({_short(name)}) class_color to be \"R,G,B\" with three 0-255 integers, "
                f"got {_short(item['class_color'])}",
                hint='write the colour as a string of three integers, e.g. "class_color": "255,0,0"',
                path=PATH,
            )
        if "class_value" in item:
            value = item["class_value"]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                yield Problem(
                    f"expected label {i} ({_short(name)}) class_value to be an integer 0-255, "
                    f"got {_short(value)}",
                    hint="class_value is the 8-bit pixel value of the class in label images",
                    path=PATH,
                )
            elif value in seen:
                yield Problem(
                    f"expected unique class_value, got {value} for labels {seen[value]} and {i}",
                    hint="each class has its own pixel value in the label images",
                    path=PATH,
                )
            else:
                seen[value] = i


@rule("CFG003", phase=Phase.CONFIG)
def class_names_match_labels(cfg: Any) -> Iterator[Problem]:
    """``class_name``'s names equal the labels' ``class_name``s, in order."""
    labels = _labels(cfg)
    if not labels or not isinstance(cfg.get("class_name"), str):
        return  # no labels to compare with: CFG001 or CFG002 says why
    names = cfg["class_name"].split(",")
    label_names = [item.get("class_name") for item in labels]
    if names != label_names:
        hint = "class_name is \",\".join(label['class_name'] for label in labels)"
        if [n.strip() for n in names] == label_names:
            hint = "remove the spaces around the commas in class_name"
        yield Problem(
            f"expected class_name {','.join(map(str, label_names))!r} (the labels' names in order), "
            f"got {cfg['class_name']!r}",
            hint=hint,
            path=PATH,
        )


def _is_background(item: dict[str, Any]) -> bool:
    return str(item.get("class_name", "")).strip().lower() == "background"


@rule("CFG004", phase=Phase.CONFIG)
def n_class_counts_labels(cfg: Any) -> Iterator[Problem]:
    """``n_class`` equals the number of labels without background."""
    labels = _labels(cfg)
    n_class = cfg.get("n_class") if isinstance(cfg, dict) else None
    if labels is None or not isinstance(n_class, str) or not (n_class.isascii() and n_class.isdigit()):
        return
    want = sum(1 for item in labels if not _is_background(item))
    if int(n_class) != want:
        yield Problem(
            f"expected n_class \"{want}\" (labels without background), got {n_class!r}",
            hint="scripts size their output layer from n_class; count the labels, leaving out background",
            path=PATH,
        )


def _number(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value  # an int stays an int: float() of a huge one would overflow


@rule("CFG005", phase=Phase.CONFIG)
def values_in_range(cfg: Any) -> Iterator[Problem]:
    """load_size is "W,H" (positive integers); epochs, batch_size >= 1; learning_rate > 0; and so on."""
    if not isinstance(cfg, dict):
        return
    size = cfg.get("load_size")
    if isinstance(size, str):
        m = _LOAD_SIZE_RE.fullmatch(size)
        if m is None or int(m.group(1)) <= 0 or int(m.group(2)) <= 0:
            yield Problem(
                f"expected load_size \"W,H\" with positive integers, got {_short(size)}",
                hint='write width and height separated by a comma, e.g. "load_size": "608,608"',
                path=PATH,
            )
    checks = (
        ("epochs", lambda v: v >= 1, "an integer >= 1"),
        ("batch_size", lambda v: v >= 1, "an integer >= 1"),
        ("learning_rate", lambda v: v > 0 and (isinstance(v, int) or math.isfinite(v)), "a number > 0"),
        ("gpu_num", lambda v: v >= 0, "an integer >= 0 (0 = CPU only)"),
        ("auto_termination", lambda v: v in (0, 1), "0 or 1"),
    )
    for key, ok, want in checks:
        value = _number(cfg.get(key))
        if value is not None and not ok(value):
            yield Problem(f"expected {key} to be {want}, got {_short(cfg[key])}",
                          hint=f'e.g. "{key}": {_EXAMPLES[key]}', path=PATH)


@rule("CFG006", phase=Phase.CONFIG)
def resume_path_is_s3_folder(cfg: Any) -> Iterator[Problem]:
    """``resume_path`` is "" or an ``s3://bucket/key/`` URL ending in ``/``."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("resume_path"), str):
        return
    value = cfg["resume_path"]
    if value == "" or _RESUME_RE.fullmatch(value):
        return
    hint = "resume_path names a folder: scripts fetch <resume_path><model_name>.th"
    if value.startswith("s3://") and not value.endswith("/"):
        hint = f"end the folder URL with '/': {value}/ (scripts append <model_name>.th to it)"
    elif not value.startswith("s3://"):
        hint = "use the s3://bucket/key/ form, e.g. s3://pie-engine-ai/devel/user/model/<id>/"
    yield Problem(f"expected resume_path \"\" or an s3://bucket/key/ folder URL, got {_short(value)}",
                  hint=hint, path=PATH)
