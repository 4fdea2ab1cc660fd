"""What the progress-time and end-of-run rules see: frozen snapshots of ``output/`` and the run's record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Pictures each task must write to ``output/picture/`` (CONTRACT section 2).
REQUIRED_PICTURES: dict[str, tuple[str, ...]] = {
    "detection": ("pred.png",),
    "segmentation": ("image.png", "label.png", "pred.png"),
    "change_detection": ("A.png", "B.png", "label.png", "pred.png"),
}


@dataclass(frozen=True)
class FileInfo:
    """One file as it was when a snapshot was taken (paths relative to the run folder)."""

    relpath: str  # e.g. "output/picture/pred.png"
    size: int
    mtime_ns: int
    digest: str | None  # sha256 hex of the content; None when over the size limit or unreadable
    is_symlink: bool = False
    link_target: str | None = None  # where a symlink points (never followed)


@dataclass(frozen=True)
class Snapshot:
    """``output/`` as the platform would have uploaded it when it read progress line number ``index``."""

    index: int  # 1-based count of progress lines read so far
    k: int | None  # the k the line announced
    n: int | None  # the N the line announced
    line: int  # stdout line number of the progress line
    elapsed: float  # seconds since the script started
    root: Path  # folder holding the frozen copy: root / relpath mirrors the run folder
    files: Mapping[str, FileInfo] = field(default_factory=dict)  # every entry under output/
    outside: Mapping[str, FileInfo] = field(default_factory=dict)  # new or changed files elsewhere in the run folder

    def path(self, relpath: str) -> Path:
        """Where the frozen copy of ``relpath`` lies (it exists only if ``relpath in files``)."""
        return self.root / relpath


@dataclass(frozen=True)
class ProgressContext:
    """The input of every progress-time rule (OUT, LOG001/LOG006, PRG at the line)."""

    task: str
    traincfg: Mapping[str, Any]  # the config the script was given (valid: the harness made it)
    snapshot: Snapshot
    previous: Snapshot | None  # the snapshot at the previous progress line, if any
    scenario: str = "baseline"
    downloaded: frozenset[str] = frozenset()  # run-folder paths the script wrote through aiUtils (OUT010 excludes them)
    cache: dict[str, Any] = field(default_factory=dict, compare=False)  # per-run memo shared by rules (e.g. decoded pictures)

    @property
    def model_name(self) -> str:
        """The traincfg's model_name (the weights file is ``output/files/<model_name>.th``)."""
        return str(self.traincfg.get("model_name", ""))

    @property
    def weights_relpath(self) -> str:
        """Where the contract expects the weights, relative to the run folder."""
        return f"output/files/{self.model_name}.th"
