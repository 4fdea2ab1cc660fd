"""The HTML report on synthetic kept folders: contents, pictures, escaping of untrusted text, bad input."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from pie_conformance.cli import main
from pie_conformance.findings import Report
from pie_conformance.kept import load_kept, report_from_dict
from pie_conformance.reporters._html_assets import CSS, JS
from pie_conformance.reporters._html_sample import DEFAULT_CLASSES, make_kept_run, sample_finding
from pie_conformance.reporters.html import render_html, write_html

EVIL = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">&amp;"\''


class _Page(HTMLParser):
    """Elements, attributes and text of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self._attrs: dict[str, str | None] = {}
        self._text: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in, self._attrs, self._text = tag, dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            body = "".join(self._text)
            if tag == "script":
                self.scripts.append((self._attrs, body))
            else:
                self.styles.append(body)
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)
        else:
            self.text.append(data)


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    return p


def _data(page: str) -> dict:
    parsed = _parse(page)
    (body,) = [b for a, b in parsed.scripts if a.get("type") == "application/json"]
    return json.loads(body)


def _render(folder: Path) -> str:
    kept = load_kept(folder)
    return render_html(kept.report, kept)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = make_kept_run(
        tmp_path_factory.mktemp("kept") / "k", epochs=5, size=(64, 64), findings=[sample_finding()]
    )
    return root, _render(root)


def test_the_page_has_every_section(sample: tuple[Path, str]) -> None:
    _, page = sample
    parsed = _parse(page)
    ids = {a.get("id") for _, a in parsed.tags}
    assert {"verdict", "findings", "scenario-baseline", "traincfg", "dataset", "timings"} <= ids
    text = " ".join(parsed.text)
    assert "NOT CONFORMANT" in text and "1 error, 0 warnings" in text
    assert "OUT007" in text and "How to fix:" in text and "nearest-neighbour" in text
    assert "scenario baseline, epoch 1, output/picture/label.png" in text
    # The finding links to the pictures of its epoch.
    assert 'href="#scenario-baseline-pictures" data-viewer="scenario-baseline" data-goto="1"' in page


def test_one_viewer_entry_per_epoch_with_the_tasks_pictures(sample: tuple[Path, str]) -> None:
    _, page = sample
    viewers = _data(page)["viewers"]
    (epochs,) = viewers.values()
    assert [e["k"] for e in epochs] == [1, 2, 3, 4, 5]
    assert [[p["name"] for p in e["pics"]] for e in epochs] == [["image.png", "label.png", "pred.png"]] * 5
    assert all(p["img"] and "epoch" in p["alt"] for e in epochs for p in e["pics"])
    # The page opens at the last epoch: its figures are in the HTML, not built by the script.
    figures = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', page)
    assert figures == [
        f"{n} at epoch 5: {w}"
        for n, w in (
            ("image.png", "the input image"),
            ("label.png", "the ground-truth labels in class colours"),
            ("pred.png", "the prediction"),
        )
    ]


def test_pictures_are_stored_once_per_content(sample: tuple[Path, str]) -> None:
    _, page = sample
    data = _data(page)
    (epochs,) = data["viewers"].values()
    keys = {
        p["name"]: {p["img"] for p in (q for e in epochs for q in e["pics"] if q["name"] == p["name"])}
        for p in epochs[0]["pics"]
    }
    # image.png and label.png are the same file at every epoch; pred.png changes every epoch.
    assert len(keys["image.png"]) == 1 and len(keys["label.png"]) == 1 and len(keys["pred.png"]) == 5
    in_page = set(re.findall(r'data-img="(p\d+)"', page))
    assert set(data["images"]) | in_page == {k for v in keys.values() for k in v}
    assert not set(data["images"]) & in_page  # the opening epoch's pictures are not stored twice


def test_large_pictures_are_downscaled_and_class_colours_kept(tmp_path: Path) -> None:
    root = make_kept_run(tmp_path / "k", epochs=2, size=(600, 300))
    page = _render(root)
    uris = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert uris
    allowed = {c for _, _, c in DEFAULT_CLASSES}
    for uri in uris:
        im = Image.open(io.BytesIO(base64.b64decode(uri)))
        assert max(im.size) == 256 and im.size == (256, 128)
    label_key = next(
        p["img"] for p in _data(page)["viewers"]["scenario-baseline"][0]["pics"] if p["name"] == "label.png"
    )
    label_uri = _data(page)["images"].get(label_key) or re.search(
        rf'src="([^"]+)" alt="[^"]*" data-img="{label_key}"', page
    ).group(1)
    label = Image.open(io.BytesIO(base64.b64decode(label_uri.split(",", 1)[1]))).convert("RGB")
    assert {c for _, c in label.getcolors(1 << 16)} <= allowed  # nearest-neighbour: no blended colours


def test_every_metric_is_charted_train_and_valid_overall_and_per_class(sample: tuple[Path, str]) -> None:
    _, page = sample
    for metric in ("precision", "recall", "score", "loss"):
        chart = re.search(
            rf'<svg class="chart"[^>]*data-metric="{metric}" data-group="all".*?</svg>', page, re.S
        )
        assert chart is not None, metric
        for split in ("train", "valid"):
            series = re.search(
                rf'<g class="series" data-split="{split}" data-group="all".*?</g>', chart.group(0), re.S
            )
            assert series is not None and series.group(0).count("<circle") == 5
        per_class = re.search(
            rf'<svg class="chart"[^>]*data-metric="{metric}" data-group="classes".*?</svg>', page, re.S
        )
        assert per_class is not None
        groups = set(
            re.findall(
                r'<g class="series" data-split="(?:train|valid)" data-group="([^"]+)"', per_class.group(0)
            )
        )
        assert groups == {"building", "water", "road"}
    assert "loss (损失)" in page  # the trainlog's display names


def test_timeline_shows_each_progress_line_and_epoch_durations(sample: tuple[Path, str]) -> None:
    _, page = sample
    timeline = re.search(r'<svg class="chart timeline".*?</svg>', page, re.S).group(0)
    assert timeline.count("<line x1=") >= 5 and "[Process: 3/5] (stdout line 6)" in timeline
    bars = re.search(r'<svg class="chart bars".*?</svg>', page, re.S).group(0)
    assert bars.count("<rect") == 5
    # make_kept_run: epoch k arrives at 3 + 1.5 k s and the kit held the script 0.01 s at each line.
    assert "epoch 1 (from the start: includes start-up): 4.5 s" in bars
    assert "epoch 2: 1.49 s" in bars


def test_traincfg_dataset_and_timings_are_shown(sample: tuple[Path, str]) -> None:
    _, page = sample
    text = " ".join(_parse(page).text)
    for expected in (
        "learning_rate",
        "linknet34",
        "devel/kit/dataset/segmentation/",
        "building",
        "255,0,0",
        "train/images: 1",
        "total",
    ):
        assert expected in text, expected


def test_untrusted_text_cannot_inject_markup_or_script(tmp_path: Path) -> None:
    classes = (("background", 0, (0, 0, 0)), (EVIL, 1, (255, 0, 0)))
    finding = sample_finding(message=EVIL, hint=EVIL, path=EVIL)
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    root = make_kept_run(
        tmp_path / "k",
        epochs=2,
        size=(32, 32),
        classes=classes,
        findings=[finding],
        metrics={EVIL: EVIL},
        stderr=EVIL,
        returncode=1,
        extra_pictures={'"><img src=x onerror=alert(1)>.png': png.getvalue()},
    )
    page = _render(root)
    assert EVIL not in page and "<img src=x" not in page
    parsed = _parse(page)
    assert [a.get("type") for a, _ in parsed.scripts] == ["application/json", None]
    assert parsed.scripts[1][1] == JS
    assert not [(t, k) for t, a in parsed.tags for k in a if k.lower().startswith("on")]
    assert {t for t, _ in parsed.tags if t in ("iframe", "object", "embed", "base", "link", "form")} == set()
    srcs = [a["src"] for t, a in parsed.tags if t == "img"]
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    # The text reaches the reader intact, as text.
    assert EVIL in " ".join(parsed.text)
    data_script = parsed.scripts[0][1]
    assert "<" not in data_script and json.loads(data_script)["viewers"]


def test_content_security_policy_allows_exactly_the_inline_style_and_script(sample: tuple[Path, str]) -> None:
    _, page = sample
    parsed = _parse(page)
    (csp,) = [a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]

    def digest(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert parsed.styles == [CSS]
    assert f"style-src '{digest(CSS)}'" in csp and f"script-src '{digest(JS)}'" in csp
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert "http://" not in page and "https://" not in page  # nothing to fetch


def test_broken_outputs_become_notes_not_crashes(tmp_path: Path) -> None:
    root = make_kept_run(tmp_path / "k", epochs=3, size=(32, 32))
    snaps = root / "baseline" / "snapshots"
    (snaps / "0002" / "output" / "picture" / "pred.png").write_bytes(b"not a png at all")
    (snaps / "0003" / "output" / "picture" / "pred.png").unlink()
    (snaps / "0003" / "output" / "picture" / "label.png").write_bytes(b"")
    (snaps / "0003" / "output" / "trainlog.json").write_text("{NaN", encoding="utf-8")
    (root / "baseline" / "work" / "output" / "trainlog.json").write_bytes(b"\xff\xfe")
    page = _render(root)
    epochs = _data(page)["viewers"]["scenario-baseline"]
    notes = {(e["k"], p["name"]): p["note"] for e in epochs for p in e["pics"] if p["img"] is None}
    assert notes == {
        (2, "pred.png"): "not a PNG file (wrong signature)",
        (3, "pred.png"): "missing",
        (3, "label.png"): "empty file",
    }
    assert "No metric values to draw" in page and "is not valid JSON" in page
    assert str(root) not in page.split("No metric values", 1)[1].split("</p>", 1)[0]


def test_report_without_kept_folder_shows_verdict_findings_and_timings() -> None:
    report = Report(
        kind="run",
        subject="x/train.py",
        task="segmentation",
        findings=(sample_finding(),),
        timings={"total": 1.5},
    )
    out = io.StringIO()
    write_html(report, out)
    page = out.getvalue()
    assert "NOT CONFORMANT" in page and "OUT007" in page and "Pictures per epoch" not in page
    assert _data(page) == {"images": {}, "viewers": {}}


def test_report_json_reads_back_as_the_same_report(sample: tuple[Path, str]) -> None:
    root, _ = sample
    kept = load_kept(root)
    assert report_from_dict(kept.report.to_dict()) == kept.report
    assert kept.report.findings == (sample_finding(),)
    assert [s.name for s in kept.scenarios] == ["baseline"]


def test_report_command_writes_the_page_and_exits_with_the_verdict(
    sample: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = sample
    out = tmp_path / "r.html"
    assert main(["report", str(root), "--html", str(out)]) == 1
    assert "NOT CONFORMANT" in out.read_text(encoding="utf-8")
    assert f"HTML report written to {out}" in capsys.readouterr().out
    good = make_kept_run(tmp_path / "good", epochs=1, size=(16, 16))
    assert main(["report", str(good), "--html", str(out), "--picture-size", "16"]) == 0


@pytest.mark.parametrize("case", ["no folder", "not kept", "bad json", "no html folder", "html is a folder"])
def test_report_command_refuses_bad_input_with_a_clear_error(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, html = tmp_path / "kept", tmp_path / "r.html"
    if case != "no folder":
        folder.mkdir()
    if case == "bad json":
        (folder / "report.json").write_text("[1, 2", encoding="utf-8")
    if case == "no html folder":
        html = tmp_path / "missing" / "r.html"
    if case == "html is a folder":
        html = tmp_path
    assert main(["report", str(folder), "--html", str(html)]) == 2
    err = capsys.readouterr().err
    expected = {
        "no folder": "no such folder",
        "not kept": "no report.json",
        "bad json": "not valid JSON",
        "no html folder": "no folder",
        "html is a folder": "got a folder",
    }[case]
    assert expected in err and "Traceback" not in err
