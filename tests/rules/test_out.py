"""OUT001-OUT010 on fabricated snapshots: files written to tmp dirs, FileInfo/Snapshot built over them."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pie_conformance.facts import REQUIRED_PICTURES, FileInfo, ProgressContext, Snapshot
from pie_conformance.findings import Finding
from pie_conformance.harness.inspection import Inspection
from pie_conformance.harness.weights import start_inspector
from pie_conformance.rules import evaluate

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

OUT = [f"OUT{i:03d}" for i in range(1, 12)]
MODEL = "unet"
BLACK, RED, GREEN = (0, 0, 0), (255, 0, 0), (0, 255, 0)
SIZE = (40, 30)  # width, height

LABELS = [
    {"class_name": "background", "class_value": 0, "class_title": "bg", "class_color": "0,0,0"},
    {"class_name": "road", "class_value": 1, "class_title": "road", "class_color": "255,0,0"},
    {"class_name": "water", "class_value": 2, "class_title": "water", "class_color": "0,255,0"},
]


def traincfg(task: str) -> dict[str, Any]:
    labels = LABELS if task != "detection" else LABELS[1:]
    return {
        "training_id": "0d3c0a8e-0000-4000-8000-000000000001",
        "model_name": MODEL,
        "class_name": ",".join(lab["class_name"] for lab in labels),
        "label": json.dumps(labels),
        "n_class": "2",
        "epochs": 3,
    }


def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


RGB = tuple[int, int, int]


def mask(size: tuple[int, int] = SIZE, colours: tuple[RGB, ...] = (BLACK, RED, GREEN)) -> np.ndarray:
    """A picture made of exactly ``colours``, in vertical bands."""
    w, h = size
    a = np.zeros((h, w, 3), dtype=np.uint8)
    for i, c in enumerate(colours):
        a[:, i * w // len(colours):] = c
    return a


def photo(size: tuple[int, int] = SIZE, seed: int = 0) -> np.ndarray:
    w, h = size
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


_STATE = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.zeros(2)}


def weights(scale: float = 1.0) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v * scale for k, v in _STATE.items()}, buf)
    return buf.getvalue()


def pictures(task: str, seed: int = 0) -> dict[str, bytes]:
    """The task's required pictures, all valid, same size, label/pred in the class colours."""
    out = {}
    for name in REQUIRED_PICTURES[task]:
        arr = mask() if name in ("label.png", "pred.png") else photo(seed=seed)
        out[f"output/picture/{name}"] = png(arr)
    return out


def conformant(task: str, seed: int = 0) -> dict[str, bytes]:
    files = pictures(task, seed)
    files[f"output/files/{MODEL}.th"] = weights(1.0 + seed)
    files["output/trainlog.json"] = b"{}"
    return files


class Builder:
    """Writes files into a fresh snapshot folder and builds the Snapshot the harness would."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.count = 0

    def snapshot(
        self,
        files: Mapping[str, bytes | None],
        *,
        k: int = 1,
        outside: Mapping[str, bytes] | None = None,
        mtimes: Mapping[str, int] | None = None,
        links: Mapping[str, str] | None = None,
    ) -> Snapshot:
        self.count += 1
        root = self.base / f"snap{self.count}"
        infos: dict[str, FileInfo] = {}
        for rel, data in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            assert data is not None
            p.write_bytes(data)
            mtime = (mtimes or {}).get(rel, 1_000_000_000 * (k + 1) + self.count)
            infos[rel] = FileInfo(rel, len(data), mtime, hashlib.sha256(data).hexdigest())
        for rel, target in (links or {}).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.symlink_to(target)
            infos[rel] = FileInfo(rel, 0, 1, None, is_symlink=True, link_target=target)
        out_infos = {
            rel: FileInfo(rel, len(data), 1, hashlib.sha256(data).hexdigest())
            for rel, data in (outside or {}).items()
        }
        return Snapshot(
            index=k, k=k, n=3, line=k, elapsed=float(k), root=root, files=infos, outside=out_infos
        )


@pytest.fixture(scope="module")
def shared_inspection() -> Iterator[Inspection]:
    with Inspection() as inspection:
        yield inspection


@pytest.fixture
def b(tmp_path: Path) -> Builder:
    return Builder(tmp_path)


@pytest.fixture
def check(shared_inspection: Inspection) -> Any:
    def run(
        task: str,
        snap: Snapshot,
        previous: Snapshot | None = None,
        *,
        downloaded: frozenset[str] = frozenset(),
        cfg: dict[str, Any] | None = None,
        ids: list[str] = OUT,
    ) -> list[Finding]:
        ctx = ProgressContext(
            task=task, traincfg=cfg or traincfg(task), snapshot=snap, previous=previous,
            downloaded=downloaded, inspector=shared_inspection,
        )
        return list(evaluate(ids, ctx, scenario="baseline", epoch=snap.k))

    return run


def rule_ids(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


# -- conformant outputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", sorted(REQUIRED_PICTURES))
def test_conformant_outputs_have_no_findings_over_two_epochs(task: str, b: Builder, check: Any) -> None:
    first = b.snapshot(conformant(task, 0), k=1)
    second = b.snapshot(conformant(task, 1), k=2)
    assert check(task, first) == []
    assert check(task, second, first) == []


# -- OUT001 -----------------------------------------------------------------------------------------


def test_out001_missing_weights(b: Builder, check: Any) -> None:
    files = conformant("detection")
    del files[f"output/files/{MODEL}.th"]
    found = check("detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT001"]
    assert found[0].path == f"output/files/{MODEL}.th"
    assert "torch.save(model.state_dict()" in (found[0].hint or "")


def test_out001_hint_points_at_the_guide_slip(b: Builder, check: Any) -> None:
    files = conformant("detection")
    del files[f"output/files/{MODEL}.th"]
    snap = b.snapshot(files, outside={f"output{MODEL}.th": weights()})
    found = check("detection", snap)
    assert rule_ids(found) == ["OUT001", "OUT010"]
    assert f"found output{MODEL}.th instead" in found[0].message
    for f in found:
        assert "'/' is missing" in (f.hint or "") and f"output/files/{MODEL}.th" in (f.hint or "")


def test_out001_hint_prefers_a_known_slip(b: Builder, check: Any) -> None:
    files = conformant("detection")
    del files[f"output/files/{MODEL}.th"]
    snap = b.snapshot(files, outside={f"aaa/{MODEL}_old.th": weights(), f"output{MODEL}.th": weights()})
    found = check("detection", snap, ids=["OUT001"])
    assert "'/' is missing" in (found[0].hint or "")


def test_out001_wrong_file_name(b: Builder, check: Any) -> None:
    files = conformant("detection")
    files["output/files/model_final.th"] = files.pop(f"output/files/{MODEL}.th")
    found = check("detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT001"]
    assert "model_name" in (found[0].hint or "")


# -- OUT002 -----------------------------------------------------------------------------------------


def _torch_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("content", "in_message", "in_hint"),
    [
        (lambda: _torch_bytes(torch.nn.Linear(2, 2)), "pickled torch.nn.modules.linear.Linear",
         "state_dict()"),
        (lambda: _torch_bytes({"lr": 0.1, "epoch": 2}), "not a name and a tensor", "torch.save"),
        (lambda: _torch_bytes({"state_dict": dict(_STATE), "epoch": 2}), "'state_dict'", "optimizer state"),
        (lambda: b"\x00garbage bytes, not a torch file", "cannot read it", "torch.save"),
        (lambda: b"", "empty", "torch.save"),
        (lambda: _torch_bytes([torch.zeros(1)]), "loads as list", "state_dict()"),
        (lambda: _torch_bytes(torch.zeros(3)), "loads as torch.Tensor", "state_dict()"),
    ],
    ids=["whole-module", "non-tensors", "checkpoint", "garbage", "empty", "list", "bare-tensor"],
)
def test_out002_refuses_what_is_not_a_state_dict(
    content: Any, in_message: str, in_hint: str, b: Builder, check: Any
) -> None:
    files = conformant("detection")
    files[f"output/files/{MODEL}.th"] = content()
    found = check("detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT002"]
    assert in_message in found[0].message
    assert in_hint in (found[0].hint or "")
    assert found[0].severity.value == "error"


def test_out002_symlinked_weights(b: Builder, check: Any, tmp_path: Path) -> None:
    files = conformant("detection")
    del files[f"output/files/{MODEL}.th"]
    snap = b.snapshot(files, links={f"output/files/{MODEL}.th": str(tmp_path / "elsewhere.th")})
    found = check("detection", snap)
    assert rule_ids(found) == ["OUT002"]
    assert "symbolic link" in found[0].message


def test_out002_weights_too_large_to_copy_are_not_judged(b: Builder, check: Any) -> None:
    snap = b.snapshot(conformant("detection"))
    rel = f"output/files/{MODEL}.th"
    snap.path(rel).unlink()  # what the harness does with a file over its copy limit: recorded, not copied
    files = dict(snap.files)
    files[rel] = FileInfo(rel, 900 * 1024 * 1024, 5, None)
    big = Snapshot(index=1, k=1, n=3, line=1, elapsed=1.0, root=snap.root, files=files)
    assert check("detection", big) == []


def test_out002_loader_failure_is_a_finding_not_an_exception(b: Builder) -> None:
    dead = start_inspector()
    dead.close()
    inspection = Inspection(dead)
    snap = b.snapshot(conformant("detection"))
    ctx = ProgressContext(task="detection", traincfg=traincfg("detection"), snapshot=snap, previous=None,
                          inspector=inspection)
    found = list(evaluate(OUT, ctx, epoch=1))
    assert rule_ids(found) == ["OUT002"]
    assert "the kit could not load it" in found[0].message
    assert not inspection._weights  # an unavailable verdict is not memoised


def test_out002_judged_once_per_content(b: Builder, check: Any, shared_inspection: Inspection) -> None:
    files = conformant("detection")
    files[f"output/files/{MODEL}.th"] = b"garbage that is memoised"
    digest = hashlib.sha256(files[f"output/files/{MODEL}.th"]).hexdigest()
    check("detection", b.snapshot(files), ids=["OUT002"])
    assert shared_inspection._weights[digest].status == "invalid"


# -- OUT003 -----------------------------------------------------------------------------------------


def test_out003_same_bytes_as_previous_epoch(b: Builder, check: Any) -> None:
    first = b.snapshot(conformant("detection", 0), k=1)
    files = conformant("detection", 1)
    files[f"output/files/{MODEL}.th"] = weights(1.0)  # epoch 1's weights again
    second = b.snapshot(files, k=2)
    found = check("detection", second, first)
    assert rule_ids(found) == ["OUT003"]
    assert found[0].severity.value == "warning"
    assert "same tensors as at the previous progress line" in found[0].message


def test_out003_same_tensors_in_different_bytes(b: Builder, check: Any) -> None:
    first = b.snapshot(conformant("detection", 0), k=1)
    files = conformant("detection", 1)
    reordered = {k: _STATE[k] for k in reversed(list(_STATE))}
    files[f"output/files/{MODEL}.th"] = _torch_bytes(reordered)
    assert files[f"output/files/{MODEL}.th"] != weights(1.0)
    second = b.snapshot(files, k=2)
    assert rule_ids(check("detection", second, first)) == ["OUT003"]


def test_out003_quiet_when_weights_change_or_k_repeats(b: Builder, check: Any) -> None:
    first = b.snapshot(conformant("detection", 0), k=1)
    assert check("detection", b.snapshot(conformant("detection", 1), k=2), first, ids=["OUT003"]) == []
    files = conformant("detection", 1)
    files[f"output/files/{MODEL}.th"] = weights(1.0)
    repeat = b.snapshot(files, k=1)  # the same k printed twice is PRG005, not a frozen model
    assert check("detection", repeat, first, ids=["OUT003"]) == []


# -- OUT004 -----------------------------------------------------------------------------------------


def test_out004_missing_picture_is_reported_once(b: Builder, check: Any) -> None:
    files = conformant("segmentation")
    del files["output/picture/label.png"]
    found = check("segmentation", b.snapshot(files))
    assert rule_ids(found) == ["OUT004"]
    assert found[0].path == "output/picture/label.png"


def test_out004_every_missing_picture_of_change_detection(b: Builder, check: Any) -> None:
    files = conformant("change_detection")
    for name in ("A.png", "B.png", "label.png", "pred.png"):
        del files[f"output/picture/{name}"]
    found = check("change_detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT004"] * 4
    assert "A.png, B.png, label.png, pred.png" in (found[0].hint or "")


def test_out004_names_the_near_miss(b: Builder, check: Any) -> None:
    files = conformant("detection")
    files["output/picture/Pred.jpg"] = files.pop("output/picture/pred.png")
    found = check("detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT004", "OUT009"]
    assert "found output/picture/Pred.jpg instead" in found[0].message
    assert ".png" in (found[0].hint or "")


def test_out004_picture_outside_picture_folder(b: Builder, check: Any) -> None:
    files = conformant("detection")
    files["output/pred.png"] = files.pop("output/picture/pred.png")
    found = check("detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT004"]
    assert "output/picture/" in (found[0].hint or "")


# -- OUT005 -----------------------------------------------------------------------------------------


def _bomb() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    w = h = 50_000
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(b"\x00" * (w + 1)) for _ in range(16)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("content", "in_message"),
    [
        (lambda: png(mask(), "JPEG"), "JPEG data, not a PNG"),
        (lambda: png(photo())[:200], "truncated"),
        (lambda: b"", "empty"),
        (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
    ],
    ids=["jpeg", "truncated", "empty", "svg"],
)
def test_out005_bad_pred_is_reported_by_out005_only(
    content: Any, in_message: str, b: Builder, check: Any
) -> None:
    files = conformant("segmentation")
    files["output/picture/pred.png"] = content()
    found = check("segmentation", b.snapshot(files))
    assert rule_ids(found) == ["OUT005"]
    assert in_message in found[0].message
    assert found[0].path == "output/picture/pred.png"
    assert found[0].hint


def test_out005_symlinked_picture(b: Builder, check: Any) -> None:
    files = conformant("detection")
    del files["output/picture/pred.png"]
    found = check("detection", b.snapshot(files, links={"output/picture/pred.png": "/etc/hostname"}))
    assert rule_ids(found) == ["OUT005"]
    assert "symbolic link to /etc/hostname" in found[0].message


def test_out005_special_file_that_the_snapshot_did_not_copy(b: Builder, check: Any) -> None:
    snap = b.snapshot(conformant("detection"))
    rel = "output/picture/pred.png"
    snap.path(rel).unlink()
    files = dict(snap.files)
    files[rel] = FileInfo(rel, 0, 5, None)  # what the harness records for a fifo: no copy, no digest
    fifo = Snapshot(index=1, k=1, n=3, line=1, elapsed=1.0, root=snap.root, files=files)
    found = check("detection", fifo)
    assert rule_ids(found) == ["OUT005"]
    assert "not a regular file" in found[0].message


# -- OUT011 -----------------------------------------------------------------------------------------


def test_out011_picture_past_the_decode_limit_is_a_warning_not_out005(b: Builder, check: Any) -> None:
    files = conformant("segmentation")
    files["output/picture/pred.png"] = _bomb()
    found = check("segmentation", b.snapshot(files))
    assert rule_ids(found) == ["OUT011"]
    assert found[0].severity.value == "warning"
    assert "50000x50000" in found[0].message and "did not decode it" in found[0].message
    assert found[0].path == "output/picture/pred.png" and found[0].hint


def test_out011_silent_for_pictures_within_the_limit(b: Builder, check: Any) -> None:
    assert "OUT011" not in rule_ids(check("segmentation", b.snapshot(conformant("segmentation"))))


# -- OUT006 -----------------------------------------------------------------------------------------


def test_out006_pred_of_another_size(b: Builder, check: Any) -> None:
    files = conformant("segmentation")
    files["output/picture/pred.png"] = png(mask((20, 15)))
    found = check("segmentation", b.snapshot(files))
    assert rule_ids(found) == ["OUT006"]
    assert found[0].path == "output/picture/pred.png"
    assert "pred.png 20x15" in found[0].message and "(40x30)" in found[0].message


def test_out006_ignores_a_picture_that_does_not_decode(b: Builder, check: Any) -> None:
    files = conformant("change_detection")
    files["output/picture/B.png"] = b"not a picture"
    assert rule_ids(check("change_detection", b.snapshot(files))) == ["OUT005"]


# -- OUT007 -----------------------------------------------------------------------------------------


def test_out007_smoothed_colours(b: Builder, check: Any) -> None:
    files = conformant("segmentation")
    smooth = np.asarray(Image.fromarray(mask()).resize((80, 60), Image.BILINEAR).resize(SIZE, Image.BILINEAR))
    files["output/picture/pred.png"] = png(smooth)
    found = check("segmentation", b.snapshot(files))
    assert rule_ids(found) == ["OUT007"]
    assert found[0].path == "output/picture/pred.png"
    assert "other colour" in found[0].message and "pixels" in found[0].message
    assert "NEAREST" in (found[0].hint or "")
    assert "1->(255,0,0)" in (found[0].hint or "")


def test_out007_class_values_instead_of_colours(b: Builder, check: Any) -> None:
    files = conformant("change_detection")
    values = np.zeros((SIZE[1], SIZE[0]), dtype=np.uint8)
    values[:, 10:] = 1
    values[:, 30:] = 2
    files["output/picture/label.png"] = png(values)
    found = check("change_detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT007"]
    assert "(1,1,1)" in found[0].message and "(2,2,2)" in found[0].message
    assert "class values" in (found[0].hint or "")


def test_out007_not_for_detection(b: Builder, check: Any) -> None:
    files = conformant("detection")
    files["output/picture/pred.png"] = png(photo())
    assert check("detection", b.snapshot(files)) == []


def test_out007_labels_in_python_literal_form(b: Builder, check: Any) -> None:
    cfg = traincfg("segmentation")
    cfg["label"] = repr(LABELS)  # the form scripts eval(); still readable
    files = conformant("segmentation")
    files["output/picture/label.png"] = png(mask(colours=(BLACK, (0, 0, 255))))
    found = check("segmentation", b.snapshot(files), cfg=cfg)
    assert rule_ids(found) == ["OUT007"]
    assert "(0,0,255)" in found[0].message


def test_out007_unreadable_labels_are_left_to_the_cfg_rules(b: Builder, check: Any) -> None:
    cfg = traincfg("segmentation")
    cfg["label"] = "not a list"
    files = conformant("segmentation")
    files["output/picture/pred.png"] = png(photo())
    assert check("segmentation", b.snapshot(files), cfg=cfg) == []


# -- OUT008 -----------------------------------------------------------------------------------------


def test_out008_picture_not_rewritten(b: Builder, check: Any) -> None:
    first_files = conformant("detection", 0)
    first = b.snapshot(first_files, k=1, mtimes={"output/picture/pred.png": 123})
    files = conformant("detection", 1)
    files["output/picture/pred.png"] = first_files["output/picture/pred.png"]
    second = b.snapshot(files, k=2, mtimes={"output/picture/pred.png": 123})
    found = check("detection", second, first)
    assert rule_ids(found) == ["OUT008"]
    assert found[0].severity.value == "warning"


def test_out008_same_picture_written_again_is_fine(b: Builder, check: Any) -> None:
    first_files = conformant("segmentation", 0)
    first = b.snapshot(first_files, k=1, mtimes={"output/picture/image.png": 123})
    files = conformant("segmentation", 1)
    files["output/picture/image.png"] = first_files["output/picture/image.png"]
    second = b.snapshot(files, k=2, mtimes={"output/picture/image.png": 456})
    assert check("segmentation", second, first) == []


# -- OUT009 -----------------------------------------------------------------------------------------


def test_out009_unexpected_pictures_reported_when_they_appear(b: Builder, check: Any) -> None:
    files = conformant("detection", 0)
    files["output/picture/pred_epoch1.png"] = png(photo())
    first = b.snapshot(files, k=1)
    found = check("detection", first)
    assert rule_ids(found) == ["OUT009"]
    assert found[0].path == "output/picture/pred_epoch1.png"
    files = conformant("detection", 1)
    files["output/picture/pred_epoch1.png"] = png(photo())
    files["output/picture/pred_epoch2.png"] = png(photo())  # the same kind of file: not reported again
    files["output/picture/overlay.png"] = png(photo())
    found = check("detection", b.snapshot(files, k=2), first)
    assert rule_ids(found) == ["OUT009"]
    assert found[0].message.endswith("found 1 other file: overlay.png")


def test_out009_segmentation_pictures_in_a_detection_run(b: Builder, check: Any) -> None:
    files = conformant("detection")
    files.update(pictures("segmentation"))
    found = check("detection", b.snapshot(files))
    assert rule_ids(found) == ["OUT009"]
    assert "2 other files: image.png, label.png" in found[0].message


# -- OUT010 -----------------------------------------------------------------------------------------


def test_out010_guide_slips_get_specific_hints(b: Builder, check: Any) -> None:
    files = conformant("detection")
    files[f"output/{MODEL}.th"] = weights()
    snap = b.snapshot(files, outside={"outputtrainlog.json": b"{}", "cache/features.npy": b"x"})
    found = check("detection", snap)
    assert rule_ids(found) == ["OUT010"] * 3
    by_path = {f.path: f for f in found}
    assert "output/files/" in (by_path[f"output/{MODEL}.th"].hint or "")
    assert "'/' is missing" in (by_path["outputtrainlog.json"].hint or "")
    assert "output/trainlog.json" in (by_path["outputtrainlog.json"].hint or "")
    assert "tempfile" in (by_path["cache/features.npy"].hint or "")


def test_out010_excludes_downloads_and_python_caches(b: Builder, check: Any) -> None:
    outside = {
        f"{MODEL}.th": weights(),
        "data/train/images/a.jpg": b"j",
        "__pycache__/net.cpython-311.pyc": b"c",
    }
    snap = b.snapshot(conformant("detection"), outside=outside)
    downloaded = frozenset({f"{MODEL}.th", "data/train/images/a.jpg"})
    assert check("detection", snap, downloaded=downloaded) == []


def test_out010_reported_once_per_file(b: Builder, check: Any) -> None:
    first = b.snapshot(conformant("detection", 0), k=1, outside={"log.txt": b"1"})
    assert rule_ids(check("detection", first)) == ["OUT010"]
    outside = {"log.txt": b"12", "more.txt": b"x"}
    second = b.snapshot(conformant("detection", 1), k=2, outside=outside)
    found = check("detection", second, first)
    assert [f.path for f in found] == ["more.txt"]


def test_out010_numbered_files_count_as_one_kind(b: Builder, check: Any) -> None:
    first = b.snapshot(conformant("detection", 0), k=1, outside={"ckpt_1.th": weights()})
    assert [f.path for f in check("detection", first)] == ["ckpt_1.th"]
    outside = {"ckpt_1.th": weights(), "ckpt_2.th": weights(2.0)}
    second = b.snapshot(conformant("detection", 1), k=2, outside=outside)
    assert check("detection", second, first) == []


def test_all_out_rules_are_registered_with_catalogue_severity() -> None:
    from pie_conformance.rules import get_rule

    warnings = {rid for rid in OUT if get_rule(rid).severity.value == "warning"}
    assert warnings == {"OUT003", "OUT006", "OUT008", "OUT009", "OUT010", "OUT011"}
    assert all(get_rule(rid).check.__doc__ for rid in OUT)


def test_rules_never_raise_on_an_unknown_task(b: Builder, check: Any) -> None:
    files = conformant("detection")
    assert check("classification", b.snapshot(files), cfg=traincfg("detection")) == []

