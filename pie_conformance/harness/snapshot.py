"""Snapshots of ``output/``: copy what the platform would upload at a progress line, without following links.

The script is frozen (SIGSTOP) while a snapshot is taken, so the copy is what was on disk when the progress
line was read. Everything is bounded: files over ``max_file_bytes`` are recorded but not copied (their digest
is None), and at most ``max_files`` entries are looked at per tree.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pie_conformance.facts import FileInfo, Snapshot

OUTPUT_DIR = "output"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on what a snapshot copies and hashes."""

    max_file_bytes: int = 256 * 1024 * 1024
    max_files: int = 10_000


DEFAULT_LIMITS = Limits()


def _walk(
    top: Path, rel_base: Path, limits: Limits, skip: str | None = None
) -> list[tuple[str, os.stat_result]]:
    """Every entry below ``top`` as (relpath, lstat), directories not followed through links."""
    found: list[tuple[str, os.stat_result]] = []
    stack = [top]
    while stack and len(found) < limits.max_files:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            rel = os.path.relpath(e.path, rel_base)
            if skip is not None and rel == skip:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(Path(e.path))
            else:
                found.append((rel.replace(os.sep, "/"), st))
                if len(found) >= limits.max_files:
                    break
    return found


def _copy_and_hash(src: Path, dest: Path | None, size: int, limits: Limits) -> str | None:
    """Hash ``src`` (and copy it to ``dest`` when given) without following a final symlink."""
    if size > limits.max_file_bytes:
        return None
    try:
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    h = hashlib.sha256()
    out = None
    try:
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            out = open(dest, "wb")  # noqa: SIM115 - closed in finally together with fd
        read = 0
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            read += len(chunk)
            if read > limits.max_file_bytes:  # it grew while being read
                return None
            h.update(chunk)
            if out is not None:
                out.write(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
        if out is not None:
            out.close()
    return h.hexdigest()


def file_info(path: Path, relpath: str, st: os.stat_result, dest: Path | None, limits: Limits) -> FileInfo:
    """Record one entry (copying it to ``dest`` if it is a regular file and ``dest`` is given)."""
    if stat.S_ISLNK(st.st_mode):
        try:
            target: str | None = os.readlink(path)
        except OSError:
            target = None
        return FileInfo(relpath, st.st_size, st.st_mtime_ns, None, is_symlink=True, link_target=target)
    if not stat.S_ISREG(st.st_mode):  # fifo, socket, device: never opened
        return FileInfo(relpath, st.st_size, st.st_mtime_ns, None)
    digest = _copy_and_hash(path, dest, st.st_size, limits)
    return FileInfo(relpath, st.st_size, st.st_mtime_ns, digest)


def scan_tree(workdir: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file of the working directory outside ``output/``: the "before" state."""
    return {rel: (st.st_size, st.st_mtime_ns) for rel, st in _walk(workdir, workdir, limits, skip=OUTPUT_DIR)}


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
    known_outside: dict[str, FileInfo] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Snapshot:
    """Copy ``workdir/output`` into ``root`` and note files made or changed elsewhere in ``workdir``.

    ``known_outside`` memoises the outside files already hashed (by relpath, size and mtime) so that the cost
    of a snapshot does not grow with the number of epochs.
    """
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, FileInfo] = {}
    out_dir = workdir / OUTPUT_DIR
    try:
        out_is_dir = stat.S_ISDIR(os.lstat(out_dir).st_mode)
    except OSError:
        out_is_dir = False
    if out_is_dir:
        for rel, st in _walk(out_dir, workdir, limits):
            files[rel] = file_info(workdir / rel, rel, st, root / rel, limits)
    elif out_dir.is_symlink():
        files[OUTPUT_DIR] = file_info(out_dir, OUTPUT_DIR, os.lstat(out_dir), None, limits)
    outside: dict[str, FileInfo] = {}
    memo = known_outside if known_outside is not None else {}
    for rel, st in _walk(workdir, workdir, limits, skip=OUTPUT_DIR):
        if before.get(rel) == (st.st_size, st.st_mtime_ns):
            continue
        seen = memo.get(rel)
        if seen is not None and (seen.size, seen.mtime_ns) == (st.st_size, st.st_mtime_ns):
            outside[rel] = seen
            continue
        info = file_info(workdir / rel, rel, st, None, limits)
        memo[rel] = info
        outside[rel] = info
    return Snapshot(
        index=index, k=k, n=n, line=line, elapsed=elapsed, root=root, files=files, outside=outside
    )
