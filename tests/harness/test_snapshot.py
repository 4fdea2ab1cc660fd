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


# -- never following what the script planted --------------------------------------------------------------
def _canaries(tmp_path: Path) -> tuple[Path, Path]:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY")
    folder = tmp_path / "canary-dir"
    folder.mkdir()
    return canary, folder


def test_links_planted_in_the_snapshot_folder_are_set_aside_never_written_through(tmp_path: Path) -> None:
    from pie_conformance.harness.snapshot import pop_notes

    canary, folder = _canaries(tmp_path)
    work = tmp_path / "run" / "work"
    (work / "output" / "files").mkdir(parents=True)
    (work / "output" / "picture").mkdir()
    (work / "output" / "files" / "m.th").write_bytes(b"weights")
    (work / "output" / "picture" / "pred.png").write_bytes(b"png")
    planted = tmp_path / "run" / "snapshots" / "0001" / "output"
    (planted / "files").mkdir(parents=True)
    os.symlink(canary, planted / "files" / "m.th")
    os.symlink(folder, planted / "picture")
    snap = _snap(work, tmp_path / "run" / "snapshots" / "0001", {})
    assert canary.read_text() == "CANARY" and list(folder.iterdir()) == []
    assert snap.path("output/files/m.th").read_bytes() == b"weights"
    assert not snap.path("output/files/m.th").is_symlink()
    notes = pop_notes(work)
    assert any("set aside" in n for n in notes), notes
    # The planted snapshot folder itself as a link to the canary folder: set aside, not entered.
    os.symlink(folder, tmp_path / "run" / "snapshots" / "0002")
    _snap(work, tmp_path / "run" / "snapshots" / "0002", {})
    assert list(folder.iterdir()) == []
    # ... and the folder of all snapshots.
    os.rename(tmp_path / "run" / "snapshots", tmp_path / "run" / "old")
    os.symlink(folder, tmp_path / "run" / "snapshots")
    _snap(work, tmp_path / "run" / "snapshots" / "0003", {})
    assert list(folder.iterdir()) == [] and canary.read_text() == "CANARY"


def test_the_kits_reads_of_a_copy_never_follow_a_link(tmp_path: Path) -> None:
    from pie_conformance.harness.snapshot import open_snapshot_file, read_snapshot_file

    canary, folder = _canaries(tmp_path)
    (folder / "m.th").write_text("SECRET")
    work = tmp_path / "work"
    (work / "output" / "files").mkdir(parents=True)
    (work / "output" / "files" / "m.th").write_bytes(b"weights")
    snap = _snap(work, tmp_path / "snap", {})
    assert read_snapshot_file(snap, "output/files/m.th") == b"weights"
    assert read_snapshot_file(snap, "output/files/m.th", max_bytes=3) is None
    copy = snap.path("output/files/m.th")
    copy.unlink()
    os.symlink(canary, copy)  # what a script did after its last progress line
    assert read_snapshot_file(snap, "output/files/m.th") is None
    files = snap.path("output/files")
    copy.unlink()
    files.rmdir()
    os.symlink(folder, files)  # a folder of the copy swapped for a link
    assert open_snapshot_file(snap.root, "output/files/m.th") is None
    assert read_snapshot_file(snap, "../canary.txt") is None


def test_a_fifo_in_output_is_recorded_never_opened(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "output").mkdir(parents=True)
    os.mkfifo(work / "output" / "pipe")
    snap = _snap(work, tmp_path / "snap", {})
    assert snap.files["output/pipe"].digest is None
    assert not snap.path("output/pipe").exists()


# -- cost: what changed, real bytes only, within a budget ---------------------------------------------------
def test_unchanged_files_are_hard_linked_from_the_previous_snapshot(tmp_path: Path) -> None:
    work = tmp_path / "run" / "work"
    (work / "output" / "files").mkdir(parents=True)
    (work / "output" / "files" / "m.th").write_bytes(b"w1")
    (work / "output" / "trainlog.json").write_text("{}")
    memo: dict = {}
    snaps = tmp_path / "run" / "snapshots"
    first = _snap(work, snaps / "0001", {}, known_outside=memo)
    (work / "output" / "trainlog.json").write_text('{"epochs": []}')
    second = _snap(work, snaps / "0002", {}, known_outside=memo)
    same = [p.stat().st_ino for p in (first.path("output/files/m.th"), second.path("output/files/m.th"))]
    assert same[0] == same[1] and second.files["output/files/m.th"] == first.files["output/files/m.th"]
    log = "output/trainlog.json"
    assert first.path(log).stat().st_ino != second.path(log).stat().st_ino
    assert second.path("output/trainlog.json").read_text() == '{"epochs": []}'
    # Rewritten with the same size and mtime put back: the ctime differs, so it is copied again.
    path = work / "output" / "files" / "m.th"
    st = path.stat()
    path.write_bytes(b"w2")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = _snap(work, snaps / "0003", {}, known_outside=memo)
    assert third.path("output/files/m.th").read_bytes() == b"w2"
    assert third.files["output/files/m.th"].digest == hashlib.sha256(b"w2").hexdigest()


def test_sparse_files_are_copied_as_their_real_bytes(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "output").mkdir(parents=True)
    size = 64 << 20
    with open(work / "output" / "sparse.bin", "wb") as f:
        f.seek(size // 2)
        f.write(b"data")
        f.truncate(size)
    snap = _snap(work, tmp_path / "snap", {})
    copy = snap.path("output/sparse.bin")
    assert copy.stat().st_size == size
    assert copy.stat().st_blocks * 512 < 1 << 20  # holes stayed holes
    expected = hashlib.sha256(bytes(size // 2) + b"data" + bytes(size - size // 2 - 4)).hexdigest()
    assert snap.files["output/sparse.bin"].digest == expected


def test_a_snapshot_copies_within_its_budget_and_says_what_it_left_out(tmp_path: Path) -> None:
    from pie_conformance.harness.snapshot import pop_notes

    work = tmp_path / "work"
    (work / "output").mkdir(parents=True)
    for name in "abcd":
        (work / "output" / f"{name}.bin").write_bytes(name.encode() * 1000)
    memo: dict = {}
    limits = Limits(max_snapshot_bytes=2500)
    snap = _snap(work, tmp_path / "s1", {}, known_outside=memo, limits=limits)
    copied = sorted(rel for rel, info in snap.files.items() if info.digest is not None)
    assert copied == ["output/a.bin", "output/b.bin"]
    assert not snap.path("output/c.bin").exists()
    notes = pop_notes(work)
    assert any("output/c.bin (1,000 bytes) was not copied" in n for n in notes), notes
    again = _snap(work, tmp_path / "s2", {}, known_outside=memo, limits=limits)
    # Unchanged files cost nothing, and the refused ones are not tried again.
    assert sorted(rel for rel, info in again.files.items() if info.digest is not None) == copied
    assert pop_notes(work)


def test_a_snapshot_stops_at_the_runs_time_limit(tmp_path: Path) -> None:
    import time

    from pie_conformance.harness import runner
    from pie_conformance.harness.snapshot import pop_notes

    work = tmp_path / "work"
    (work / "output").mkdir(parents=True)
    (work / "output" / "a.bin").write_bytes(b"a")
    runner._current.deadline = time.monotonic() - 1
    try:
        snap = _snap(work, tmp_path / "snap", {})
    finally:
        runner._current.deadline = None
    assert snap.files == {}
    assert any("cut short at the run's time limit" in n for n in pop_notes(work))
