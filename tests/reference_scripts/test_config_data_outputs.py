"""Parameters, data decoding and output writers of the reference scripts (alike in the three folders)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from ref_support import TASKS, load_ref

LABEL_JSON = json.dumps([
    {"class_name": "background", "class_value": 0, "class_title": "背景", "class_color": "0,0,0"},
    {"class_name": "road", "class_value": 100, "class_title": "道路", "class_color": "255,255,255"},
    {"class_name": "water", "class_value": "255", "class_title": "水", "class_color": "0,0,255"},
], ensure_ascii=False)


def _params(**overrides: object) -> dict[str, object]:
    params: dict[str, object] = {
        "training_id": "57fc8152-c4f5-44b5-a25d-bc043a624d4b", "dataset_id": "", "resume_path": "",
        "class_name": "background,road,water", "label": LABEL_JSON, "n_class": "2", "load_size": "96,64",
        "model_name": "m", "learning_rate": 0.0003, "epochs": 3, "batch_size": 4, "auto_termination": 1,
        "gpu_num": 0,
    }
    params.update(overrides)
    return params


@pytest.mark.parametrize("task", TASKS)
def test_every_key_is_decoded(task: str) -> None:
    config = load_ref(task, "config")
    cfg = config.from_params(_params())
    assert cfg.load_size == (96, 64)  # W,H as the platform writes it
    assert cfg.dataset_id is None  # "" means: take AI_DATASET_ID, as the guide does
    assert cfg.names == ["background", "road", "water"]
    assert cfg.value_to_index() == {0: 0, 100: 1, 255: 2}
    assert cfg.colors == [(0, 0, 0), (255, 255, 255), (0, 0, 255)]
    assert cfg.auto_termination is True and cfg.epochs == 3 and cfg.batch_size == 4 and cfg.n_class == 2


@pytest.mark.parametrize("task", TASKS)
def test_label_in_python_literal_form_is_accepted(task: str) -> None:
    config = load_ref(task, "config")
    literal = str(json.loads(LABEL_JSON))  # single quotes: what eval() in the guide accepts
    assert config.parse_labels(literal) == config.parse_labels(LABEL_JSON)
    with pytest.raises(config.ConfigError, match="label"):
        config.parse_labels("__import__('os').system('true')")


@pytest.mark.parametrize("task", TASKS)
def test_bad_values_raise_config_error(task: str) -> None:
    config = load_ref(task, "config")
    bads = ({"load_size": "0,64"}, {"epochs": 0}, {"learning_rate": 0}, {"label": "[]"},
            {"model_name": "a/b"})
    for bad in bads:
        with pytest.raises(config.ConfigError):
            config.from_params(_params(**bad))
    params = _params()
    del params["training_id"]
    with pytest.raises(config.ConfigError, match="training_id"):
        config.from_params(params)


@pytest.mark.parametrize("task", TASKS)
def test_traincfg_file_first_then_stdin(task: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_ref(task, "config")
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_params(epochs=7)) + "\n"))
    assert config.load(str(tmp_path)).epochs == 7
    (tmp_path / "traincfg.json").write_text(json.dumps(_params(epochs=5)), encoding="utf-8")
    assert config.load(str(tmp_path)).epochs == 5


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_label_values_map_to_indices_nearest_neighbour(task: str) -> None:
    data = load_ref(task, "data")
    label = np.array([[0, 100, 255, 7]] * 2, dtype=np.uint8)
    lookup = data.value_lookup({0: 0, 100: 1, 255: 2})
    out = data.decode_label(_png(label), (8, 4), lookup)
    assert out.shape == (4, 8)
    assert set(np.unique(out).tolist()) == {0, 1, 2, data.IGNORE_INDEX}  # 7 is no class: ignored


@pytest.mark.parametrize("task", TASKS)
def test_images_of_any_mode_become_rgb(task: str) -> None:
    data = load_ref(task, "data")
    grey16 = Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    rgba = Image.new("RGBA", (8, 8), (10, 20, 30, 40))
    for image in (grey16, rgba, Image.new("P", (8, 8))):
        rgb = data.to_rgb(image)
        assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert data.to_rgb(grey16).max() == 255


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(("count", "batch", "world"),
                         [(8, 4, 1), (5, 16, 1), (7, 2, 2), (3, 1, 2), (1, 4, 2)])
def test_every_rank_gets_the_same_number_of_batches(task: str, count: int, batch: int, world: int) -> None:
    data = load_ref(task, "data")
    per_rank = [data.epoch_batches(count, batch, True, 3, rank, world) for rank in range(world)]
    assert len({len(b) for b in per_rank}) == 1
    seen = torch.cat([torch.cat(b) for b in per_rank])
    assert set(seen.tolist()) == set(range(count))  # every image is used, none is lost by the padding
    assert all(len(x) <= batch for b in per_rank for x in b)


def test_voc_boxes_are_parsed_and_scaled() -> None:
    data = load_ref("detection", "data")
    xml = (b"<annotation><size><width>600</width><height>300</height><depth>3</depth></size>"
           b"<object><name>airplane</name><difficult></difficult><bndbox><xmin>124.0</xmin><xmax>249.0</xmax>"
           b"<ymin>172.0</ymin><ymax>291.0</ymax></bndbox></object>"
           b"<object><name>ship</name><difficult>1</difficult><bndbox><xmin>0</xmin><xmax>30</xmax>"
           b"<ymin>0</ymin><ymax>30</ymax></bndbox></object>"
           b"<object><name>boat</name><bndbox><xmin>1</xmin><xmax>2</xmax><ymin>1</ymin><ymax>2</ymax></bndbox>"
           b"</object></annotation>")
    rows, unknown = data.parse_voc(xml, {"airplane": 0, "ship": 1})
    assert unknown == 1
    assert rows == [[0.0, 124.0, 172.0, 249.0, 291.0, 0.0], [1.0, 0.0, 0.0, 30.0, 30.0, 1.0]]
    scaled = data.scale_boxes(rows, (600, 300), (60, 60))
    assert scaled[0].tolist() == pytest.approx([0.0, 12.4, 34.4, 24.9, 58.2, 0.0])


@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_pictures_use_exact_class_colours(task: str) -> None:
    outputs = load_ref(task, "outputs")
    colors = [(0, 0, 0), (255, 255, 255), (12, 34, 56)]
    indices = np.array([[0, 1, 2, 255]], dtype=np.uint8)  # 255: an ignored pixel
    picture = outputs.colorize(indices, colors)
    assert picture.tolist() == [[[0, 0, 0], [255, 255, 255], [12, 34, 56], [0, 0, 0]]]


def test_detection_picture_draws_boxes_in_class_colours() -> None:
    outputs = load_ref("detection", "outputs")
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    drawn = outputs.draw_boxes(image, np.array([[4, 4, 20, 20, 0.9, 1]]), [(255, 0, 0), (0, 255, 0)])
    assert drawn.shape == image.shape
    assert tuple(drawn[4, 10]) == (0, 255, 0) and tuple(drawn[12, 12]) == (0, 0, 0)


@pytest.mark.parametrize("task", TASKS)
def test_trainlog_is_strict_json_and_written_atomically(task: str, tmp_path) -> None:
    outputs = load_ref(task, "outputs")
    out = outputs.OutputDir(str(tmp_path))
    log = outputs.TrainLog(str(tmp_path / "output" / "trainlog.json"), "tid", {"loss": "损失"})
    log.add_epoch(1, [outputs.entry("all", {"loss": np.float32(0.5)})],
                  [outputs.entry("all", {"loss": 0.25})])
    log.set_best({"loss": 0.25})
    log.write()
    text = (tmp_path / "output" / "trainlog.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["epochs"][0] == {"epoch": "1", "train": [{"class": "all", "values": {"loss": 0.5}}],
                                 "valid": [{"class": "all", "values": {"loss": 0.25}}]}
    assert data["end_time"] == "" and "损失" in text
    log.finish()
    log.write()
    assert json.loads((tmp_path / "output" / "trainlog.json").read_text(encoding="utf-8"))["end_time"]
    log.add_epoch(2, [outputs.entry("all", {"loss": float("nan")})], [])
    with pytest.raises(ValueError):
        log.write()  # never a NaN in the file: the writer refuses rather than emit invalid JSON
    outputs.save_weights({"w": torch.ones(2)}, out.weights_path("m"))
    assert torch.load(out.weights_path("m"), weights_only=True)["w"].tolist() == [1.0, 1.0]
    written = sorted(p.name for p in (tmp_path / "output").rglob("*"))
    assert written == ["files", "m.th", "picture", "trainlog.json"]


@pytest.mark.parametrize("task", TASKS)
def test_inconsistent_keys_give_notes_and_the_labels_decide(task: str) -> None:
    config = load_ref(task, "config")
    assert config.from_params(_params()).notes() == []
    cfg = config.from_params(_params(n_class="5", class_name="background,water,road"))
    notes = cfg.notes()
    assert len(notes) == 2 and "n_class is 5" in notes[0] and "class_name" in notes[1]
    assert cfg.value_to_index() == {0: 0, 100: 1, 255: 2}
    assert cfg.names == ["background", "road", "water"]  # names follow the labels' order
    renamed = config.from_params(_params(class_name="background,Road,Water"))
    assert renamed.names == ["background", "Road", "Water"]  # trainlog must use class_name's spelling


class _Listing:
    """A client whose getFileList answers from a fixed key list, as aiUtils does (RuntimeError for none)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def getFileList(self, prefix: str) -> list[str]:  # noqa: N802 - the platform's name
        found = [k for k in self.keys if k.startswith(prefix)]
        if not found:
            raise RuntimeError("Found 0 files in subfolders of: " + prefix + "\n")
        return found


@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_labels_are_found_by_the_image_name_else_as_png(task: str) -> None:
    data = load_ref(task, "data")
    folder = "images" if task == "segmentation" else "A"
    client = _Listing([
        f"p/train/{folder}/a.tif", f"p/train/{folder}/b.jpg", f"p/train/{folder}/c.JPG",
        f"p/train/{folder}/d.png.aux.xml", f"p/train/{folder}/e.jpeg", f"p/train/{folder}/sub/f.png",
        "p/train/labels/a.tif", "p/train/labels/a.png", "p/train/labels/b.png", "p/train/labels/e.jpeg",
    ])
    images = data.list_images(client, f"p/train/{folder}/")
    # Every image extension in any case; not the GDAL side file, not a sub-folder's file.
    assert images == {"a": f"p/train/{folder}/a.tif", "b": f"p/train/{folder}/b.jpg",
                      "c": f"p/train/{folder}/c.JPG", "e": f"p/train/{folder}/e.jpeg"}
    names = {k.rsplit("/", 1)[-1]: k for k in data.list_files(client, "p/train/labels/")}
    found = {stem: data.label_key(key, names) for stem, key in images.items()}
    assert found == {"a": "p/train/labels/a.tif", "b": "p/train/labels/b.png", "c": None,
                     "e": "p/train/labels/e.jpeg"}
    assert data.list_images(client, "p/valid/images/") == {}
