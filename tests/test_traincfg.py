"""The traincfg helpers: the label decoder (never eval) and the tolerant typed view."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pie_conformance import strategies as pst
from pie_conformance.traincfg import MAX_LABEL_CHARS, TrainCfg, parse_color, parse_labels

GUIDE_LABEL = '[{"class_name":"airplane","class_value":1,"class_title":"飞机","class_color":"255,0,0"}]'


def test_parse_labels_json() -> None:
    assert parse_labels(GUIDE_LABEL) == [
        {"class_name": "airplane", "class_value": 1, "class_title": "飞机", "class_color": "255,0,0"}
    ]


def test_parse_labels_python_literal_form() -> None:
    literal = "[{'class_name': 'road', 'class_value': 255, 'class_title': None, 'class_color': '9,9,9'}]"
    assert parse_labels(literal)[0]["class_value"] == 255
    assert parse_labels("({'class_name': 'a'},)") == [{"class_name": "a"}]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('echo pwned')",
        "[{'a': open('/etc/passwd').read()}]",
        "[x for x in ()]",
        "lambda: 1",
    ],
)
def test_code_is_never_run(text: str) -> None:
    with pytest.raises(ValueError, match="neither JSON"):
        parse_labels(text)


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"class_name": "a"}', "list of label objects, got dict"),
        ("[1, 2]", "label item 0 to be an object, got int"),
        ("", "neither JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[{}]" + " " * MAX_LABEL_CHARS, "over the limit"),
    ],
)
def test_parse_labels_refuses_with_a_plain_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_labels(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_parse_labels_raises_only_value_error(text: str) -> None:
    try:
        result = parse_labels(text)
    except ValueError:
        return
    assert isinstance(result, list) and all(isinstance(item, dict) for item in result)


@settings(max_examples=50, deadline=None)
@given(pst.labels(task="segmentation"))
def test_both_encodings_decode_to_the_same_labels(items: list) -> None:
    assert parse_labels(json.dumps(items)) == items == parse_labels(repr(items))


@pytest.mark.parametrize(
    "color,rgb",
    [("255,0,0", (255, 0, 0)), (" 1, 2 ,3", (1, 2, 3)), ("256,0,0", None), ("1,2", None), (None, None),
     ("a,b,c", None), ("-1,0,0", None)],
)
def test_parse_color(color: object, rgb: tuple | None) -> None:
    assert parse_color(color) == rgb


def test_view_of_a_valid_config() -> None:
    cfg = {
        "training_id": "t", "dataset_id": "", "resume_path": "", "class_name": "background,road",
        "label": "[{'class_name': 'background', 'class_value': 0, 'class_title': '', 'class_color': '0,0,0'},"
        " {'class_name': 'road', 'class_value': 255, 'class_title': '', 'class_color': '255,255,255'}]",
        "n_class": "1", "load_size": "512,256", "model_name": "linknet34", "learning_rate": 0.001,
        "epochs": 3, "batch_size": 2.0, "auto_termination": 1, "gpu_num": 0,
    }
    view = TrainCfg.from_mapping(cfg)
    assert view.class_names == ["background", "road"]
    assert view.load_size == (512, 256)
    assert (view.epochs, view.batch_size, view.gpu_num, view.auto_termination) == (3, 2, 0, 1)
    assert view.n_class == 1 and view.learning_rate == 0.001 and view.model_name == "linknet34"
    assert view.colors == {(0, 0, 0): "background", (255, 255, 255): "road"}
    assert view.training_id == "t" and view.resume_path == ""


def test_view_is_tolerant() -> None:
    view = TrainCfg.from_mapping({"epochs": "80", "load_size": "0,5", "label": "nope", "n_class": "x",
                                  "gpu_num": True, "learning_rate": "0.1"})
    assert view.epochs is None and view.load_size is None and view.labels is None and view.colors is None
    assert view.n_class is None and view.gpu_num is None and view.learning_rate is None
    assert TrainCfg.from_mapping([]).class_names is None  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["epochs", "label", "load_size", "class_name", "n_class"]),
                       pst.json_values()))
def test_view_never_raises(d: dict) -> None:
    TrainCfg.from_mapping(d)
