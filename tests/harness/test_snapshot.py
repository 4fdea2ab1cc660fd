"""Snapshots of output/: copies without following links, caps, and files changed outside output/."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pie_conformance.harness.snapshot import Limits, scan_tree, take_snapshot


def _snap(work: Path, dest: Path, before: dict[str, tuple[int, int]], **kw: object):  # noqa: ANN202
    return take_snapshot(work, dest, index=1, k=1, n=2, line=3, elapsed=0.5, before=before, **kw)  # type: ignore[arg-type]


def test_copies_output_and_records_digests(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "output" / "files").mkdir(parents=True)
    (work / "output" / "files" / "m.th").write_bytes(b"weights")
    (work / "output" / "trainlog.json").write_text("{}")
    snap = _snap(work, tmp_path / "snap", {})
    assert sorted(snap.files) == ["output/files/m.th", "output/trainlog.json"]
    info = snap.files["output/files/m.th"]
    assert info.size == 7 and info.digest == hashlib.sha256(b"weights").hexdigest()
    assert snap.path("output/files/m.th").read_bytes() == b"weights"
    (work / "output" / "files" / "m.th").write_bytes(b"changed")  # the copy is frozen
    assert snap.path("output/files/m.th").read_bytes() == b"weights"
    assert (snap.index, snap.k, snap.n, snap.line) == (1, 1, 2, 3)


def test_symlinks_are_recorded_not_followed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "output" / "picture").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not the script's")
    os.symlink(secret, work / "output" / "picture" / "pred.png")
    os.symlink(tmp_path, work / "output" / "loop")
    snap = _snap(work, tmp_path / "snap", {})
    info = snap.files["output/picture/pred.png"]
    assert info.is_symlink and info.link_target == str(secret) and info.digest is None
    assert not snap.path("output/picture/pred.png").exists()
    assert snap.files["output/loop"].is_symlink  # a linked folder is not walked into


def test_output_itself_a_symlink(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(tmp_path, work / "output")
    snap = _snap(work, tmp_path / "snap", {})
    assert list(snap.files) == ["output"] and snap.files["output"].is_symlink


def test_size_and_count_limits(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "output").mkdir(parents=True)
    (work / "output" / "big.bin").write_bytes(b"x" * 100)
    for i in range(5):
        (work / "output" / f"f{i}").write_text("y")
    snap = _snap(work, tmp_path / "snap", {}, limits=Limits(max_file_bytes=50, max_files=3))
    assert len(snap.files) == 3
    if "output/big.bin" in snap.files:
        assert snap.files["output/big.bin"].digest is None
        assert not snap.path("output/big.bin").exists()


def test_outside_files_new_or_changed_since_the_start(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text("print()")
    (work / "model.py").write_text("x = 1")
    before = scan_tree(work)
    assert sorted(before) == ["model.py", "train.py"]
    (work / "outputm.th").write_bytes(b"w")
    (work / "model.py").write_text("x = 22")
    (work / "output").mkdir()
    (work / "output" / "ok.txt").write_text("in output")
    memo: dict = {}
    snap = _snap(work, tmp_path / "snap", before, known_outside=memo)
    assert sorted(snap.outside) == ["model.py", "outputm.th"]
    assert snap.outside["outputm.th"].digest == hashlib.sha256(b"w").hexdigest()
    assert "output/ok.txt" in snap.files
    again = _snap(work, tmp_path / "snap2", before, known_outside=memo)
    assert again.outside["outputm.th"] is snap.outside["outputm.th"]  # hashed once, not every epoch
