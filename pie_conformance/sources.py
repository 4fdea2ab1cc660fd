"""A script folder's Python sources, read and parsed with :mod:`ast`, never executed: the SRC rules' facts.

:func:`read_sources` walks the folder of ``train.py`` (its sub-folders too, but not ``output/``, caches,
version-control folders or virtual environments), reads every ``.py`` file within bounded counts and sizes,
decodes it as Python does (PEP 263: a coding cookie or a BOM, else UTF-8) and parses it. A file that does not
decode or parse is kept, with its error and line, in :attr:`SourceTree.unparsed`: the platform's Python could
not run it either, so it is worth a note, never a crash of the kit. Symbolic links are followed wherever
they point, as an upload of the folder (and the harness's copy of it) follows them; a cycle is read once.
Standard library only, so that ``pie-check lint`` starts fast.
"""

from __future__ import annotations

import ast
import io
import os
import stat
import tokenize
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "ENTRY",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "SkippedFile",
    "SourceFile",
    "SourceTree",
    "SyntaxProblem",
    "parse_source",
    "read_sources",
    "tree_from_texts",
]

#: The script the platform runs.
ENTRY = "train.py"
#: At most this many ``.py`` files are read; the rest are listed in :attr:`SourceTree.skipped`.
MAX_FILES = 2000
#: A file larger than this is not read (no hand-written source is; generated tables may be).
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Reading stops once this many bytes have been read in all.
MAX_TOTAL_BYTES = 48 * 1024 * 1024
#: Sub-folders deeper than this are not entered.
MAX_DEPTH = 24

# Folders that hold no source of the script: results, caches, version control, environments, editors.
_SKIP_DIRS = frozenset(
    ("__pycache__", "site-packages", "dist-packages", "node_modules", "venv", "virtualenv", "__MACOSX")
)


@dataclass(frozen=True)
class SyntaxProblem:
    """Why a file does not parse: Python's message, where, and the offending line."""

    message: str
    line: int | None = None
    column: int | None = None
    text: str | None = None

    @property
    def hint(self) -> str | None:
        """The likely cause where one is known (notebook commands, Python 2, encodings)."""
        text = (self.text or "").lstrip()
        if text.startswith(("!", "%")):
            return (
                "a notebook command (`!pip ...`, `%matplotlib`) is not Python: `python train.py` cannot "
                "run it; remove it (the run has no internet to install anything either)"
            )
        if "Missing parentheses in call to 'print'" in self.message or "Missing parentheses" in self.message:
            return "this is Python 2 code; the platform runs Python 3"
        if "Non-UTF-8" in self.message or "encoding" in self.message:
            return (
                "save the file as UTF-8, or declare its encoding on the first or second line "
                "(`# -*- coding: gbk -*-`, PEP 263)"
            )
        return None

    def describe(self) -> str:
        """The problem in one line: ``SyntaxError: <message> (line N)``."""
        where = f" (line {self.line})" if self.line else ""
        return f"{self.message}{where}"


@dataclass(frozen=True)
class SourceFile:
    """One ``.py`` file of the folder: path (relative, ``/``-separated), text, and syntax tree or error."""

    path: str
    text: str
    module: ast.Module | None = None
    error: SyntaxProblem | None = None
    encoding: str = "utf-8"

    @property
    def parsed(self) -> bool:
        """True when the file parsed (``module`` is set)."""
        return self.module is not None

    def line(self, number: int) -> str:
        """The text of line ``number`` (1-based), stripped; "" when there is no such line."""
        lines = self.text.splitlines()
        return lines[number - 1].strip() if 0 < number <= len(lines) else ""


@dataclass(frozen=True)
class SkippedFile:
    """A file or folder that was not read, and why (a limit, a link out of the folder, an I/O error)."""

    path: str
    reason: str


@dataclass(frozen=True)
class SourceTree:
    """The Python sources of a script's folder, as the SRC rules see them."""

    root: str  # the folder, absolute
    files: tuple[SourceFile, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    entry: str = ENTRY  # the script the platform runs, relative to root

    @property
    def parsed(self) -> tuple[SourceFile, ...]:
        """The files that parsed."""
        return tuple(f for f in self.files if f.module is not None)

    @property
    def unparsed(self) -> tuple[SourceFile, ...]:
        """The files that do not decode or parse; each has its :class:`SyntaxProblem`."""
        return tuple(f for f in self.files if f.module is None)

    def file(self, path: str) -> SourceFile | None:
        """The file at ``path`` (relative to the folder), if it was read."""
        for f in self.files:
            if f.path == path:
                return f
        return None

    @property
    def entry_file(self) -> SourceFile | None:
        """The file the platform runs (``train.py``), if the folder has it."""
        return self.file(self.entry)

    def notes(self) -> list[str]:
        """One line per file that was not read or does not parse, for reports to show."""
        lines = []
        for f in self.unparsed:
            assert f.error is not None
            line = f"{f.path}:{f.error.line}" if f.error.line else f.path
            hint = f.error.hint
            lines.append(
                f"{line}: does not parse ({f.error.message}); `python {self.entry}` cannot run it"
                + (f"; {hint}" if hint else "")
            )
        for s in self.skipped:
            lines.append(f"{s.path}: not read ({s.reason})")
        return lines


def _syntax_problem(exc: SyntaxError) -> SyntaxProblem:
    text = exc.text.rstrip("\r\n") if isinstance(exc.text, str) else None
    name = type(exc).__name__
    return SyntaxProblem(f"{name}: {exc.msg}", exc.lineno, exc.offset, text)


def _decode(data: bytes) -> tuple[str, str, SyntaxProblem | None]:
    """``data`` as Python reads a source file: (text, encoding, problem or None)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown or mistyped coding cookie, or bad bytes in the first two lines
        text = data.decode("utf-8", errors="replace")
        line = exc.lineno if isinstance(exc.lineno, int) else None
        first = text.splitlines()[(line or 1) - 1] if text.splitlines() else None
        return text, "utf-8", SyntaxProblem(f"SyntaxError: {exc.msg}", line or 1, None, first)
    try:
        return data.decode(encoding), encoding, None
    except (UnicodeDecodeError, LookupError) as exc:
        text = data.decode(encoding if not isinstance(exc, LookupError) else "utf-8", errors="replace")
        start = exc.start if isinstance(exc, UnicodeDecodeError) else 0
        line = data.count(b"\n", 0, start) + 1
        bad = data[start : start + 1]
        lines = text.splitlines()
        shown = lines[line - 1] if 0 < line <= len(lines) else None
        declared = "but no encoding declared" if encoding == "utf-8" else f"which is not valid {encoding}"
        return (
            text,
            encoding,
            SyntaxProblem(
                f"SyntaxError: Non-UTF-8 code starting with {bad!r} on line {line}, {declared}"
                if encoding == "utf-8"
                else f"SyntaxError: bytes {bad!r} on line {line} are not valid {encoding}",
                line,
                None,
                shown,
            ),
        )


def parse_source(path: str, data: bytes | str) -> SourceFile:
    """Decode (PEP 263) and parse one file's content; never raises for any content."""
    if isinstance(data, bytes):
        text, encoding, problem = _decode(data)
    else:
        text, encoding, problem = data, "utf-8", None
    if problem is not None:
        return SourceFile(path, text, None, problem, encoding)
    try:
        module = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return SourceFile(path, text, None, _syntax_problem(exc), encoding)
    except ValueError as exc:  # NUL bytes (Python < 3.12 says ValueError, not SyntaxError)
        line = text.count("\n", 0, max(text.find("\0"), 0)) + 1
        return SourceFile(path, text, None, SyntaxProblem(f"SyntaxError: {exc}", line), encoding)
    except (RecursionError, MemoryError):
        return SourceFile(
            path, text, None, SyntaxProblem("SyntaxError: too deeply nested for the parser"), encoding
        )
    return SourceFile(path, text, module, None, encoding)


def tree_from_texts(texts: Mapping[str, bytes | str], root: str = ".", entry: str = ENTRY) -> SourceTree:
    """A :class:`SourceTree` from ``{relative path: content}`` (tests, and sources held in memory)."""
    files = tuple(parse_source(p, texts[p]) for p in sorted(texts))
    return SourceTree(os.path.abspath(root), files, (), entry)


def _is_venv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg")) or os.path.isfile(
        os.path.join(path, "bin", "activate")
    )


def _walk(root: str, skipped: list[SkippedFile]) -> Iterator[tuple[str, str]]:
    """(relative path, absolute path) of every ``.py`` file to read, in sorted order, links followed."""
    root_real = os.path.realpath(root)
    seen_dirs = {root_real}
    stack: list[tuple[str, str, int]] = [(root, "", 0)]
    while stack:
        folder, rel, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(SkippedFile(rel or ".", f"cannot list the folder: {exc.strerror or exc}"))
            continue
        subdirs = []
        for e in entries:
            relpath = f"{rel}{e.name}"
            try:
                is_link = e.is_symlink()
                if is_link:
                    # Followed wherever it points, as an upload of the folder (and the harness's copy of
                    # it) follows it; cycles are cut by seen_dirs, size by the reading limits.
                    real = os.path.realpath(e.path)
                    st = os.stat(real)
                else:
                    real = e.path
                    st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                name = e.name
                if name.startswith(".") or name in _SKIP_DIRS or (not rel and name == "output"):
                    continue
                if depth + 1 > MAX_DEPTH:
                    skipped.append(SkippedFile(relpath + "/", f"deeper than {MAX_DEPTH} folders"))
                    continue
                real_dir = os.path.realpath(real)
                if real_dir in seen_dirs or _is_venv(real):
                    continue
                seen_dirs.add(real_dir)
                subdirs.append((real if is_link else e.path, relpath + "/", depth + 1))
            elif stat.S_ISREG(st.st_mode) and e.name.endswith(".py"):
                yield relpath, real
        # Depth-first, in name order: push in reverse so the first name is visited first.
        stack.extend(reversed(subdirs))


def read_sources(path: str | os.PathLike[str]) -> SourceTree:
    """Read and parse the ``.py`` files of a script's folder (``path``: the folder, or a file in it).

    Raises ``FileNotFoundError`` when ``path`` does not exist; every problem with a file inside is kept in
    the tree (:attr:`SourceTree.unparsed`, :attr:`SourceTree.skipped`), never raised.
    """
    given = os.fspath(path)
    if not os.path.exists(given):
        raise FileNotFoundError(f"no such file or folder: {given}")
    entry = ENTRY
    if os.path.isdir(given):
        root = given
    else:
        root = os.path.dirname(given) or "."
        entry = os.path.basename(given)
    root = os.path.abspath(root)
    skipped: list[SkippedFile] = []
    files: list[SourceFile] = []
    total = 0
    for relpath, real in _walk(root, skipped):
        if len(files) >= MAX_FILES:
            skipped.append(SkippedFile(relpath, f"over the limit of {MAX_FILES} files read"))
            continue
        try:
            size = os.stat(real).st_size
            if size > MAX_FILE_BYTES:
                skipped.append(SkippedFile(relpath, f"{size} bytes, over the limit of {MAX_FILE_BYTES}"))
                continue
            if total + size > MAX_TOTAL_BYTES:
                skipped.append(SkippedFile(relpath, f"over the limit of {MAX_TOTAL_BYTES} bytes read in all"))
                continue
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(real, flags)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            skipped.append(SkippedFile(relpath, f"cannot read it: {exc.strerror or exc}"))
            continue
        if len(data) > MAX_FILE_BYTES:
            skipped.append(SkippedFile(relpath, f"over the limit of {MAX_FILE_BYTES} bytes"))
            continue
        total += len(data)
        files.append(parse_source(relpath, data))
    return SourceTree(root, tuple(files), tuple(skipped), entry)
