"""The platform module's quirks, kept by the compatible aiUtils, and the events it writes for each one.

Each test runs a script in a child process against the mock S3 and reads the events file back with
``pie_conformance.aiutils_events.read_events``: the answer must be the platform's, and the event must say so.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from shim_support import WEIGHTS_PREFIX, ScriptRunner, last_json

from pie_conformance.aiutils_events import EVENTS_VAR, AiUtilsEvent, read_events
from pie_conformance.datasets import Dataset
from pie_conformance.s3 import BUCKET, DatasetStore, MockS3Server

QUIRKS_PREFIX = "devel/kit/quirks/extensions/"
#: name -> kept by the platform's getImages (substring test, case-sensitive).
NAMES = {
    "a.jpg": True, "b.jpeg": False, "c.JPG": False, "d.png": True, "e.PNG": False, "f.tif": True,
    "g.TIF": True, "h.TIFF": True, "i.tiff": True, "j.bmp": True, "k.BMP": False, "x.png.aux.xml": True,
    "notes.txt": False, "ann.xml": False,
}


@pytest.fixture(scope="module")
def quirk_keys(s3_server: MockS3Server) -> dict[str, bool]:
    """Keys with every kind of extension under QUIRKS_PREFIX, uploaded once."""
    store = DatasetStore(s3_server.endpoint_url)
    keys = {QUIRKS_PREFIX + name: kept for name, kept in NAMES.items()}
    store.put_objects({key: b"x" for key in keys} | {"devel/kit/quirks/upper/only.JPG": b"x"})
    return keys


def _answer(result: subprocess.CompletedProcess[str]) -> Any:
    return last_json(result)


def _events(folder: Path) -> tuple[AiUtilsEvent, ...]:
    return read_events(folder / "events.jsonl")


def _env(folder: Path) -> dict[str, str]:
    return {EVENTS_VAR: str(folder / "events.jsonl")}


def test_get_images_tests_substrings_case_sensitively(
    run_script: ScriptRunner, quirk_keys: dict[str, bool], tmp_path: Path
) -> None:
    code = f"""
        import json
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        out = [c.getImages("{QUIRKS_PREFIX}"), c.getImages("s3://{BUCKET}/{QUIRKS_PREFIX}", is_xml=True)]
        try:
            c.getImages("devel/kit/quirks/upper/")
        except RuntimeError as exc:
            out.append(str(exc))
        print(json.dumps(out))
    """
    images, with_xml, upper = _answer(run_script(code, env=_env(tmp_path)))
    assert images == sorted(k for k, kept in quirk_keys.items() if kept)
    assert with_xml == sorted(quirk_keys)  # is_xml=True: the platform's test keeps every key
    assert upper == "Found 0 images in subfolders of: devel/kit/quirks/upper/\n"
    by_quirk = {(e.call, e.quirk, e.args): e for e in _events(tmp_path)}
    case = by_quirk["getImages", "case-sensitive-extension", (QUIRKS_PREFIX, False)]
    for left_out in ("b.jpeg", "c.JPG", "e.PNG", "k.BMP"):
        assert QUIRKS_PREFIX + left_out in case.detail
    substring = by_quirk["getImages", "substring-extension", (QUIRKS_PREFIX, False)]
    assert "x.png.aux.xml" in substring.detail and "a.jpg" not in substring.detail
    xml = by_quirk["getImages", "xml-keeps-every-key", (f"s3://{BUCKET}/{QUIRKS_PREFIX}", True)]
    assert "notes.txt" in xml.detail and "ann.xml" not in xml.detail
    # A folder of '.JPG' files gives no image at all on the platform: the event says why.
    upper_event = by_quirk["getImages", "case-sensitive-extension", ("devel/kit/quirks/upper/", False)]
    assert "only.JPG" in upper_event.detail
    assert all(e.hint for e in _events(tmp_path))


def test_a_plain_dataset_gives_no_event(
    run_script: ScriptRunner, datasets: dict[str, Dataset], tmp_path: Path
) -> None:
    ds = datasets["detection"]
    code = """
        import json, os
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        images = c.getImages(c.path + "train/images")
        labels = c.getImages(c.path + "train/labels", is_xml=True)
        c.pullImage("pulled")
        print(json.dumps([images, labels, c.downS3Weight(os.getcwd() + "/w.th", c.path + "missing.th")]))
    """
    images, labels, weights = _answer(run_script(code, dataset="detection", env=_env(tmp_path)))
    assert images == [ds.prefix + k for k in ds.keys("train", "images")]
    assert labels == [ds.prefix + k for k in ds.keys("train", "labels")]
    assert weights is False  # a key that is not there: False, and no quirk involved
    assert _events(tmp_path) == ()
    assert not (tmp_path / "events.jsonl").exists()


def test_reversed_download_arguments_return_false(
    run_script: ScriptRunner, s3_server: MockS3Server, tmp_path: Path
) -> None:
    DatasetStore(s3_server.endpoint_url).put_object(WEIGHTS_PREFIX + "yolo.th", b"weights")
    code = f"""
        import json, os
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        url = "s3://{BUCKET}/{WEIGHTS_PREFIX}yolo.th"
        local = os.getcwd() + "/yolo.th"
        out = [c.downS3Weight(url, local), os.path.exists("yolo.th"), c.downS3Weight(local, url)]
        os.remove("yolo.th")
        out.append(c.downS3Weight("{WEIGHTS_PREFIX}yolo.th", "weights/yolo.th"))  # a bare key first
        print(json.dumps(out + [os.path.exists("yolo.th")]))
    """
    reversed_call, written, right_call, bare_key_first, written_again = _answer(
        run_script(code, env=_env(tmp_path))
    )
    assert reversed_call is False and written is False and right_call is True
    assert bare_key_first is False and written_again is False
    first, second = _events(tmp_path)
    assert (first.call, first.quirk) == ("downS3Weight", "reversed-arguments")
    assert first.args == (f"s3://{BUCKET}/{WEIGHTS_PREFIX}yolo.th", str(tmp_path / "yolo.th"))
    assert "local path FIRST" in first.detail and "local path FIRST" in first.hint
    assert second.quirk == "reversed-arguments"
    assert second.args == (f"{WEIGHTS_PREFIX}yolo.th", "weights/yolo.th")


def test_pull_image_returns_none_and_puts_one_file_in_a_folder(
    run_script: ScriptRunner, s3_server: MockS3Server, tmp_path: Path
) -> None:
    DatasetStore(s3_server.endpoint_url).put_object(WEIGHTS_PREFIX + "m.th", b"weights")
    code = f"""
        import json, os
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        url = "s3://{BUCKET}/{WEIGHTS_PREFIX}"
        out = [repr(c.pullImage("m.th", url + "m.th")), os.path.isdir("m.th"),
               open("m.th/m.th", "rb").read().decode()]
        out.append(repr(c.pullImage("w", url + "nothing.th")))
        out.append(repr(c.pullImage("w", url.rstrip("/"))))
        print(json.dumps(out))
    """
    one, is_folder, content, missing, no_slash = _answer(run_script(code, env=_env(tmp_path)))
    assert (one, is_folder, content) == ("None", True, "weights")
    assert missing == "False" and no_slash == "False"  # a missing object stops pullImage with False
    assert (tmp_path / "w").is_dir() and not any((tmp_path / "w").iterdir())
    quirks = [(e.call, e.quirk) for e in _events(tmp_path)]
    assert quirks == [("pullImage", "file-into-folder"), ("pullImage", "missing-returns-false"),
                      ("pullImage", "missing-returns-false")]
    assert "trailing '/'" in _events(tmp_path)[2].detail and "trailing '/'" not in _events(tmp_path)[1].detail


def test_pull_image_path_arithmetic_and_sibling_prefixes(
    run_script: ScriptRunner, s3_server: MockS3Server, tmp_path: Path
) -> None:
    base = "devel/kit/quirks/pull/"
    files = {
        "train/images/00000.png": b"a",
        "train/images/train_01.png": b"b",  # its name holds 'train': the platform puts it in the top folder
        "trainval/images/00002.png": b"c",  # listed by the prefix 'train' without '/'
        "valid/labels/00003.png": b"d",
        "valid/labels/": b"",  # a folder marker: skipped
    }
    DatasetStore(s3_server.endpoint_url).put_objects({base + k: v for k, v in files.items()})
    code = f"""
        import json, os
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        c.pullImage("pulled", "s3://{BUCKET}/{base}")
        print(json.dumps(sorted(os.path.relpath(os.path.join(d, f), "pulled")
                                for d, _, names in os.walk("pulled") for f in names)))
    """
    got = _answer(run_script(code, env=_env(tmp_path)))
    assert got == ["train/images/00000.png", "train_01.png", "trainval/images/00002.png",
                   "valid/labels/00003.png"]
    assert (tmp_path / "pulled" / "train_01.png").read_bytes() == b"b"
    events = {e.quirk: e for e in _events(tmp_path)}
    assert set(events) == {"sibling-prefix", "flattened-path"}
    assert "trainval/images/00002.png" in events["sibling-prefix"].detail
    assert "train_01.png -> ./" in events["flattened-path"].detail


def test_pull_image_ignores_a_failed_download(
    run_script: ScriptRunner, datasets: dict[str, Dataset], tmp_path: Path
) -> None:
    ds = datasets["segmentation"]
    blocker = tmp_path / "pulled" / "train" / "images" / "00000.png"
    blocker.mkdir(parents=True)  # a folder where the file should go: writing it fails
    code = """
        import json
        from aiUtils import aiUtils
        print(json.dumps(repr(aiUtils.s3GetImg().pullImage("pulled"))))
    """
    assert _answer(run_script(code, env=_env(tmp_path))) == "None"
    assert (tmp_path / "pulled" / "valid" / "labels" / "00004.png").read_bytes() == ds.files[
        "valid/labels/00004.png"
    ]
    (event,) = _events(tmp_path)
    assert event.quirk == "download-error-ignored" and "train/images/00000.png" in event.detail


def test_object_size_of_an_empty_object_is_none(
    run_script: ScriptRunner, s3_server: MockS3Server, tmp_path: Path
) -> None:
    DatasetStore(s3_server.endpoint_url).put_objects({"devel/kit/quirks/empty.bin": b"",
                                                      "devel/kit/quirks/three.bin": b"abc"})
    code = """
        import json
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        print(json.dumps([c.getObjectSize("devel/kit/quirks/empty.bin"),
                          c.getObjectSize("s3://pie-engine-ai/devel/kit/quirks/three.bin")]))
    """
    result = run_script(code, env=_env(tmp_path))
    assert _answer(result) == [None, 3]
    assert result.stdout.splitlines()[:4] == [BUCKET, "devel/kit/quirks/empty.bin",
                                              BUCKET, "devel/kit/quirks/three.bin"]
    assert [e.quirk for e in _events(tmp_path)] == ["empty-size-none"]


def test_paths_must_be_strings_as_on_the_platform(run_script: ScriptRunner) -> None:
    code = """
        import json, pathlib
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        out = []
        for call in (lambda: c.getImages(pathlib.Path("devel")), lambda: c.getImgXmlArray(None),
                     lambda: c.downS3Weight("w.th", pathlib.Path("k.th"))):
            try:
                call()
                out.append("no error")
            except Exception as exc:
                out.append([isinstance(exc, AttributeError), isinstance(exc, RuntimeError), str(exc)])
        print(json.dumps(out))
    """
    for is_attribute_error, is_runtime_error, message in _answer(run_script(code)):
        assert is_attribute_error and not is_runtime_error  # the platform's .split() raises AttributeError
        assert "expects S3 paths as str" in message


def test_s3_params_and_down_as_the_platform_names_them(
    run_script: ScriptRunner, datasets: dict[str, Dataset], s3_server: MockS3Server
) -> None:
    ds = datasets["change_detection"]
    DatasetStore(s3_server.endpoint_url).put_object(WEIGHTS_PREFIX + "d.th", b"down")
    code = f"""
        import json, os
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        params = list(c.getS3Params("{ds.dataset_id}"))
        c.down(s3WightKey={{"ContentLength": 4}}, filename=os.getcwd() + "/d.th", key="{WEIGHTS_PREFIX}d.th")
        try:
            c.down(s3WightKey=True, filename=os.getcwd() + "/x.th", key="{WEIGHTS_PREFIX}none.th")
            failed = "no error"
        except RuntimeError as exc:
            failed = str(exc)
        print(json.dumps([params, open("d.th").read(), failed]))
    """
    params, content, failed = _answer(run_script(code))
    assert params == ["pie-kit-access-key", "pie-kit-secret-key", "us-east-1", BUCKET, f"s3://{BUCKET}/{ds.prefix}"]
    assert content == "down" and failed == f"Not get img: {WEIGHTS_PREFIX}none.th "


def test_events_file_problems_never_break_the_script(
    run_script: ScriptRunner, quirk_keys: dict[str, bool], tmp_path: Path
) -> None:
    (tmp_path / "a-folder").mkdir()
    code = f"""
        import json
        from concurrent.futures import ThreadPoolExecutor
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        with ThreadPoolExecutor(8) as pool:  # the same quirk from many threads: one line
            got = list(pool.map(lambda _: len(c.getImages("{QUIRKS_PREFIX}")), range(16)))
        print(json.dumps(got))
    """
    for target in (tmp_path / "a-folder", tmp_path / "no" / "such" / "dir" / "e.jsonl"):
        assert set(_answer(run_script(code, env={EVENTS_VAR: str(target)}))) == {8}
    assert _answer(run_script(code, env=_env(tmp_path))) == [8] * 16
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # case-sensitive-extension and substring-extension, each once
    # Appended, never overwritten: a second run adds its own lines after the first run's.
    _answer(run_script(code, env=_env(tmp_path)))
    after = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert after[:2] == lines and sorted(after[2:]) == sorted(lines)  # threads may write in either order
    assert len(read_events(tmp_path / "events.jsonl")) == 2


def test_no_events_file_without_the_variable(
    run_script: ScriptRunner, quirk_keys: dict[str, bool], tmp_path: Path
) -> None:
    code = f"""
        import json
        from aiUtils import aiUtils
        print(json.dumps(len(aiUtils.s3GetImg().getImages("{QUIRKS_PREFIX}"))))
    """
    assert _answer(run_script(code)) == 8
    assert os.listdir(tmp_path) == ["script.py"]  # no events file anywhere in the run's folder
