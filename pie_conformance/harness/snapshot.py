"""Snapshots of ``output/``: copy what the platform would upload at a progress line, never following a link.

The script is frozen (SIGSTOP) while a snapshot is taken, so the copy is what was on disk when the progress
line was read. The run folder is the script's: anything in it, the snapshot folders included, may be a link
it planted (at the guard and ``none`` levels it can reach them). So every step is made relative to
directory descriptors with ``O_NOFOLLOW``: the source tree is walked with ``openat``/``fstatat``, a
destination folder is made by the kit and opened without following, every copy is created with
``O_CREAT | O_EXCL | O_NOFOLLOW``, and an entry that is not a regular file or a folder (a link, a fifo, a
socket, a device) is recorded and never opened. The kit's later reads of the copies go through
:func:`read_snapshot_file` / :func:`open_snapshot_file`, which do the same.

Snapshots cost what changed, not what exists: a file whose size, mtime, ctime and inode are those it had at
the previous snapshot of the run is hard-linked from that snapshot's copy and keeps its digest. New bytes are
copied sparse-aware (only the data extents ``SEEK_DATA``/``SEEK_HOLE`` find are written; holes stay holes) and
bounded: a file over ``max_file_bytes`` is not copied, and once ``max_snapshot_bytes`` of new content has been
read for one snapshot the remaining changed files are recorded but not copied (their digest is None). What
was refused is noted (:func:`pop_notes`) so the report can say so. A snapshot also stops where the run's time
limit falls (see :func:`pie_conformance.harness.runner.time_left`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pie_conformance._escape import fs_name
from pie_conformance.facts import FileInfo, Snapshot

OUTPUT_DIR = "output"
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_MAX_DEPTH = 64
#: The key of the previous snapshot's record in the per-run memo (``known_outside``); no relpath has a NUL.
_PREVIOUS = "\0previous-snapshot"
_MAX_NOTES = 20


@dataclass(frozen=True)
class Limits:
    """Bounds on what a snapshot copies and hashes."""

    max_file_bytes: int = 256 * 1024 * 1024  # apparent size of one file
    max_files: int = 10_000  # entries looked at per tree
    max_snapshot_bytes: int = 1024 * 1024 * 1024  # new content read (copied or hashed) per snapshot


DEFAULT_LIMITS = Limits()


# -- notes: what a snapshot refused, for the report ---------------------------------------------------------
_notes: dict[str, list[str]] = {}
_notes_lock = threading.Lock()


def _note(workdir: Path, text: str) -> None:
    key = os.path.abspath(workdir)
    with _notes_lock:
        kept = _notes.setdefault(key, [])
        if text not in kept and len(kept) < _MAX_NOTES:
            kept.append(text)


def pop_notes(workdir: Path) -> list[str]:
    """What the snapshots of the run in ``workdir`` refused or left out (a planted link, a budget passed).

    Each note is returned once: the notes are forgotten as they are popped.
    """
    with _notes_lock:
        return _notes.pop(os.path.abspath(workdir), [])


# -- descriptors --------------------------------------------------------------------------------------------
def _open_dir(name: str, dir_fd: int | None) -> int:
    """A folder opened without following a link (OSError ELOOP/ENOTDIR for a link or a file)."""
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _anchor(workdir: Path, root: Path) -> tuple[Path, tuple[str, ...], tuple[str, ...]]:
    """The deepest folder holding both ``workdir`` and ``root``, and the parts of each below it.

    The anchor is the kit's own (the folder of the run); everything below it is walked without following.
    """
    w, r = os.path.abspath(workdir), os.path.abspath(root)
    base = os.path.commonpath([w, r])
    return Path(base), _parts(os.path.relpath(w, base)), _parts(os.path.relpath(r, base))


def _parts(rel: str) -> tuple[str, ...]:
    return tuple(x for x in rel.split(os.sep) if x not in ("", "."))


def _walk_down(fd: int, parts: tuple[str, ...]) -> int:
    """Open ``parts`` below ``fd`` one by one without following; closes ``fd``; OSError when one is a link."""
    try:
        for part in parts:
            nxt = _open_dir(part, fd)
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        raise
    return fd


def _set_aside(name: str, dir_fd: int) -> str:
    """Rename what lies at ``name`` (never followed) out of the kit's way; its new name."""
    aside = f".planted-{name}-{uuid.uuid4().hex[:8]}"
    os.rename(name, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    return aside


def _enter(fd: int, part: str, *, fresh: bool, notes: list[str]) -> int:
    """The folder ``part`` below ``fd``, made (or entered) and opened without following a link.

    Whatever the kit finds in its way (a link, a file, or for a ``fresh`` folder anything at all) was not
    made by the kit: it is renamed aside, never followed, noted, and the folder made anew.
    """
    for _ in range(3):
        try:
            os.mkdir(part, 0o755, dir_fd=fd)
        except FileExistsError:
            if fresh:
                aside = _set_aside(part, fd)
                notes.append(f"something the kit did not make was at {fs_name(part)}, where it makes a "
                             f"snapshot folder: set aside as {fs_name(aside)}, never followed")
                continue
        try:
            return _open_dir(part, fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            aside = _set_aside(part, fd)
            notes.append(f"a link or file was at {fs_name(part)}, where the kit makes a snapshot folder: set "
                         f"aside as {fs_name(aside)}, never followed")
    raise OSError(errno.EEXIST, f"cannot make the snapshot folder {fs_name(part)}")


def _make_dirs(fd: int, parts: tuple[str, ...], *, fresh_last: bool, notes: list[str]) -> int:
    """Folders ``parts`` below ``fd`` (see :func:`_enter`), the last one new if ``fresh_last``; closes fd."""
    try:
        for i, part in enumerate(parts):
            nxt = _enter(fd, part, fresh=fresh_last and i == len(parts) - 1, notes=notes)
            os.close(fd)
            fd = nxt
    except OSError:
        os.close(fd)
        raise
    return fd


# -- walking ------------------------------------------------------------------------------------------------
@dataclass
class _Entry:
    rel: str  # relative to the workdir, "/"-separated
    st: os.stat_result
    parent: int  # descriptor of the folder holding it (valid while the walk is at it)
    name: str


def _walk(top_fd: int, prefix: str, limits: Limits, skip: str | None = None,
          depth: int = 0) -> Iterator[_Entry]:
    """Every entry below ``top_fd`` in name order, folders entered through descriptors, links not followed.

    Yields files (and links, fifos...) as entries; folders are entered, not yielded. The caller stops the
    iteration once it has seen ``max_files`` entries.
    """
    try:
        with os.scandir(top_fd) as it:
            names = sorted(e.name for e in it)
    except OSError:
        return
    for name in names:
        rel = f"{prefix}/{name}" if prefix else name
        if skip is not None and rel == skip:
            continue
        try:
            st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth >= _MAX_DEPTH:
                continue
            try:
                sub = _open_dir(name, top_fd)
            except OSError:  # swapped for a link since the stat: not entered
                continue
            try:
                yield from _walk(sub, rel, limits, skip, depth + 1)
            finally:
                os.close(sub)
        else:
            yield _Entry(rel, st, top_fd, name)


def _entries(top_fd: int, prefix: str, limits: Limits, skip: str | None = None) -> Iterator[_Entry]:
    for n, entry in enumerate(_walk(top_fd, prefix, limits, skip)):
        if n >= limits.max_files:
            return
        yield entry


# -- copying ------------------------------------------------------------------------------------------------
class _Budget:
    """New bytes one snapshot may still read, and the time it may take."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.left = limits.max_snapshot_bytes
        self.max_file = limits.max_file_bytes
        from pie_conformance.harness.runner import time_left

        self.time_left = time_left

    def out_of_time(self) -> bool:
        left = self.time_left()
        return left is not None and left <= 0


def _hash_zeros(h: Any, n: int) -> None:
    while n > 0:
        k = min(n, _CHUNK)
        h.update(_ZEROS[:k])
        n -= k


def _copy_extents(src: int, dst: int | None, size: int, h: Any) -> bool:
    """Hash ``size`` bytes of ``src`` (holes as zeros) and write its data extents into ``dst``; False when
    the file shrank or could not be read."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(src, pos, os.SEEK_DATA)
        except OSError as exc:
            # ENXIO: a hole up to the end; anything else: no SEEK_DATA here, everything counts as data
            start = size if exc.errno == errno.ENXIO else pos
        start = min(start, size)
        _hash_zeros(h, start - pos)
        if start >= size:
            break
        try:
            end = min(os.lseek(src, start, os.SEEK_HOLE), size)
        except OSError:
            end = size
        off = start
        while off < end:
            chunk = os.pread(src, min(_CHUNK, end - off), off)
            if not chunk:
                return False
            h.update(chunk)
            if dst is not None:
                view = memoryview(chunk)
                at = off
                while view:
                    n = os.pwrite(dst, view, at)
                    view, at = view[n:], at + n
            off += len(chunk)
        pos = end
    if dst is not None:
        os.ftruncate(dst, size)  # a hole at the end stays a hole
    return True


def _copy_file(entry: _Entry, dest_fd: int | None,
               budget: _Budget) -> tuple[str | None, os.stat_result | None]:
    """Hash the entry (and copy it into ``dest_fd`` under its name): its digest and the copy's stat."""
    size = entry.st.st_size
    try:
        src = os.open(entry.name, _FILE_FLAGS, dir_fd=entry.parent)
    except OSError:
        return None, None
    out = None
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode) or (st.st_ino, st.st_dev) != (entry.st.st_ino, entry.st.st_dev):
            return None, None  # swapped since it was looked at
        h = hashlib.sha256()
        if dest_fd is not None:
            out = os.open(entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o644, dir_fd=dest_fd)
        budget.left -= size
        if not _copy_extents(src, out, size, h):
            if out is not None:
                with contextlib.suppress(OSError):
                    os.unlink(entry.name, dir_fd=dest_fd)
            return None, None
        return h.hexdigest(), os.fstat(out) if out is not None else None
    except OSError:
        return None, None
    finally:
        os.close(src)
        if out is not None:
            os.close(out)


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What says a file has not changed since it was last copied (ctime: a script cannot set it back)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


@dataclass
class _Previous:
    """The previous snapshot of a run: where it is, and for each file copied its source identity and copy."""

    root: Path
    #: relpath -> (the source's identity, its info, the inode of the kit's copy)
    files: dict[str, tuple[tuple[int, int, int, int, int], FileInfo, int]]
    refused: dict[str, tuple[int, int, int, int, int]]  # rel -> source id of files refused for the budget


def _link_previous(entry: _Entry, prev: _Previous | None, prev_fds: dict[str, int], dest_fd: int,
                   anchor_fd: int, root_parts: tuple[str, ...]) -> tuple[FileInfo, int] | None:
    """Hard-link an unchanged file's copy from the previous snapshot; None when it changed or cannot be."""
    if prev is None:
        return None
    known = prev.files.get(entry.rel)
    if known is None or known[0] != _identity(entry.st):
        return None
    folder = entry.rel.rsplit("/", 1)[0] if "/" in entry.rel else ""
    pfd = prev_fds.get(folder)
    if pfd is None:
        try:
            pfd = _walk_down(os.dup(anchor_fd), (*root_parts, *[p for p in folder.split("/") if p]))
        except OSError:
            return None
        prev_fds[folder] = pfd
    try:
        st = os.stat(entry.name, dir_fd=pfd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_ino != known[2]:
            return None  # the previous copy is not the kit's any more
        os.link(entry.name, entry.name, src_dir_fd=pfd, dst_dir_fd=dest_fd, follow_symlinks=False)
    except OSError:
        return None
    return known[1], known[2]


def file_info(entry: _Entry, dest_fd: int | None, budget: _Budget) -> tuple[FileInfo, int | None]:
    """Record one entry (copied into ``dest_fd`` if it is a regular file): its info, the copy's inode."""
    st, rel = entry.st, entry.rel
    if stat.S_ISLNK(st.st_mode):
        try:
            target: str | None = os.fsdecode(os.readlink(entry.name, dir_fd=entry.parent))
        except OSError:
            target = None
        return FileInfo(rel, st.st_size, st.st_mtime_ns, None, is_symlink=True, link_target=target), None
    if not stat.S_ISREG(st.st_mode) or st.st_size > budget.max_file:  # fifo, socket, device, too large
        return FileInfo(rel, st.st_size, st.st_mtime_ns, None), None
    digest, copied = _copy_file(entry, dest_fd, budget)
    return FileInfo(rel, st.st_size, st.st_mtime_ns, digest), (copied.st_ino if copied is not None else None)


def scan_tree(workdir: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file of the working directory outside ``output/``: the "before" state."""
    try:
        fd = _open_dir(str(workdir), None)
    except OSError:
        return {}
    try:
        return {e.rel: (e.st.st_size, e.st.st_mtime_ns) for e in _entries(fd, "", limits, skip=OUTPUT_DIR)}
    finally:
        os.close(fd)


def take_snapshot(
    workdir: Path,
    root: Path,
    *,
    index: int,
    k: int | None,
    n: int | None,
    line: int,
    elapsed: float,
    before: Mapping[str, tuple[int, int]],
    known_outside: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Snapshot:
    """Copy ``workdir/output`` into the new folder ``root`` and note files made or changed elsewhere.

    ``known_outside`` is the run's memo, the same dict for every snapshot of a run: it keeps the outside
    files already hashed (by relpath, size and mtime) and the previous snapshot's record, so that the cost of
    a snapshot is what changed since the last one, not what exists. ``root`` and ``workdir`` share a folder
    of the kit's (the run folder); nothing below it is followed through a link.
    """
    memo: dict[str, Any] = known_outside if known_outside is not None else {}
    prev: _Previous | None = memo.get(_PREVIOUS)
    budget = _Budget(limits)
    notes: list[str] = []
    files: dict[str, FileInfo] = {}
    outside: dict[str, FileInfo] = {}
    record = _Previous(root, {}, {})
    base, work_parts, root_parts = _anchor(workdir, root)
    anchor_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the kit's own folder
    prev_fds: dict[str, int] = {}
    prev_parts: tuple[str, ...] = ()
    if prev is not None:
        rel = os.path.relpath(os.path.abspath(prev.root), base)
        prev_parts = tuple(p for p in rel.split(os.sep) if p not in ("", "."))
        if ".." in prev_parts:  # another run's folder: nothing to link from
            prev = None
    try:
        dest_root = _make_dirs(os.dup(anchor_fd), root_parts, fresh_last=True, notes=notes)
        try:
            work_fd = _walk_down(os.dup(anchor_fd), work_parts)
        except OSError:
            os.close(dest_root)
            _note_all(workdir, notes + ["the working folder could not be opened without following a link"])
            return Snapshot(index=index, k=k, n=n, line=line, elapsed=elapsed, root=root)
        try:
            _copy_output(work_fd, dest_root, anchor_fd, prev, prev_parts, prev_fds, budget, files, record,
                         notes)
            _scan_outside(work_fd, before, memo, budget, outside, limits)
        finally:
            os.close(work_fd)
            os.close(dest_root)
    finally:
        for fd in prev_fds.values():
            os.close(fd)
        os.close(anchor_fd)
    if budget.out_of_time():
        notes.append(f"snapshot {index} was cut short at the run's time limit")
    memo[_PREVIOUS] = record
    _note_all(workdir, notes)
    return Snapshot(index=index, k=k, n=n, line=line, elapsed=elapsed, root=root, files=files,
                    outside=outside)


def _note_all(workdir: Path, notes: list[str]) -> None:
    for text in notes:
        _note(workdir, text)


def _copy_output(work_fd: int, dest_root: int, anchor_fd: int, prev: _Previous | None,
                 prev_parts: tuple[str, ...], prev_fds: dict[str, int], budget: _Budget,
                 files: dict[str, FileInfo], record: _Previous, notes: list[str]) -> None:
    """Copy ``output/`` (entered without following) into ``dest_root``, linking what did not change."""
    try:
        st = os.stat(OUTPUT_DIR, dir_fd=work_fd, follow_symlinks=False)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        entry = _Entry(OUTPUT_DIR, st, work_fd, OUTPUT_DIR)
        files[OUTPUT_DIR] = file_info(entry, None, budget)[0]
        return
    try:
        out_fd = _open_dir(OUTPUT_DIR, work_fd)
    except OSError:
        return
    dest_fds: dict[str, int] = {}
    try:
        for entry in _entries(out_fd, OUTPUT_DIR, budget.limits):
            if budget.out_of_time():
                break
            folder = entry.rel.rsplit("/", 1)[0]
            dfd = dest_fds.get(folder)
            if dfd is None:
                try:
                    dfd = _make_dirs(os.dup(dest_root), tuple(folder.split("/")), fresh_last=False,
                                     notes=notes)
                except OSError:
                    continue
                dest_fds[folder] = dfd
            linked = _link_previous(entry, prev, prev_fds, dfd, anchor_fd, prev_parts)
            if linked is not None:
                files[entry.rel] = linked[0]
                record.files[entry.rel] = (_identity(entry.st), *linked)
                continue
            ident = _identity(entry.st)
            if stat.S_ISREG(entry.st.st_mode) and (
                    budget.left < entry.st.st_size
                    or (prev is not None and prev.refused.get(entry.rel) == ident)):
                record.refused[entry.rel] = ident
                notes.append(f"{fs_name(entry.rel)} ({entry.st.st_size:,} bytes) was not copied: past the "
                             f"{budget.limits.max_snapshot_bytes:,} bytes of new content a snapshot may copy")
                files[entry.rel] = FileInfo(entry.rel, entry.st.st_size, entry.st.st_mtime_ns, None)
                continue
            info, copy_ino = file_info(entry, dfd, budget)
            files[entry.rel] = info
            if info.digest is not None and copy_ino is not None:
                record.files[entry.rel] = (ident, info, copy_ino)
            elif not stat.S_ISREG(entry.st.st_mode) and not stat.S_ISLNK(entry.st.st_mode):
                notes.append(f"{fs_name(entry.rel)} is not a regular file (a fifo, socket or device): "
                             "never opened")
    finally:
        for fd in dest_fds.values():
            os.close(fd)
        os.close(out_fd)


def _scan_outside(work_fd: int, before: Mapping[str, tuple[int, int]], memo: dict[str, Any], budget: _Budget,
                  outside: dict[str, FileInfo], limits: Limits) -> None:
    """Files of the working folder outside ``output/`` made or changed since the start, hashed once each."""
    for entry in _entries(work_fd, "", limits, skip=OUTPUT_DIR):
        st = entry.st
        if before.get(entry.rel) == (st.st_size, st.st_mtime_ns):
            continue
        seen = memo.get(entry.rel)
        if isinstance(seen, FileInfo) and (seen.size, seen.mtime_ns) == (st.st_size, st.st_mtime_ns):
            outside[entry.rel] = seen
            continue
        if budget.out_of_time() or (stat.S_ISREG(st.st_mode) and budget.left < st.st_size):
            info = FileInfo(entry.rel, st.st_size, st.st_mtime_ns, None)
        else:
            info = file_info(entry, None, budget)[0]
            memo[entry.rel] = info
        outside[entry.rel] = info


# -- the kit's later reads ----------------------------------------------------------------------------------
def open_snapshot_file(root: Path, relpath: str) -> int | None:
    """A read-only descriptor of the copy of ``relpath`` in the snapshot at ``root``, or None.

    Every folder below ``root`` and the file itself are opened without following a link, and the file must
    be a regular file: a copy the script swapped for a link (or anything else) is never opened. The caller
    closes the descriptor.
    """
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    try:
        fd = _open_dir(str(root), None)
    except OSError:
        return None
    try:
        fd = _walk_down(fd, tuple(parts[:-1]))
    except OSError:
        return None
    try:
        f = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        if not stat.S_ISREG(os.fstat(f).st_mode):
            os.close(f)
            return None
        os.set_blocking(f, True)
    except OSError:
        os.close(f)
        return None
    return f


def read_snapshot_file(snap: Snapshot, relpath: str,
                       max_bytes: int = DEFAULT_LIMITS.max_file_bytes) -> bytes | None:
    """The bytes of the frozen copy of ``relpath`` in ``snap``, read without following any link; None when it
    is not a regular file, is larger than ``max_bytes``, or cannot be read."""
    fd = open_snapshot_file(snap.root, relpath)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            return None
        chunks: list[bytes] = []
        got = 0
        while got <= max_bytes:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks) if got <= max_bytes else None
    except OSError:
        return None
    finally:
        os.close(fd)
