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
    # new or changed files elsewhere in the run folder
    outside: Mapping[str, FileInfo] = field(default_factory=dict)

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
    # run-folder paths the script wrote through aiUtils (OUT010 excludes them)
    downloaded: frozenset[str] = frozenset()
    # per-run memo shared by rules (e.g. decoded pictures)
    cache: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def model_name(self) -> str:
        """The traincfg's model_name (the weights file is ``output/files/<model_name>.th``)."""
        return str(self.traincfg.get("model_name", ""))

    @property
    def weights_relpath(self) -> str:
        """Where the contract expects the weights, relative to the run folder."""
        return f"output/files/{self.model_name}.th"


@dataclass(frozen=True)
class S3Call:
    """One request the script (not the kit) made to the mock S3, as the end-of-run rules see it."""

    op: str  # e.g. "GetObject", "PutObject", "DeleteObject", "ListObjectsV2"
    bucket: str
    key: str
    status: int = 200


@dataclass(frozen=True)
class BufferingProbe:
    """When progress lines reached the pipe in a run without ``PYTHONUNBUFFERED`` (PRG006)."""

    arrivals: tuple[float, ...]  # seconds since start at which each exact progress line was read
    eof: float  # seconds since start at which stdout ended
    reference_arrivals: tuple[float, ...]  # the same in the unbuffered run, to tell a fast script apart
    reference_eof: float


@dataclass(frozen=True)
class RunRecord:
    """The input of the end-of-run rules (PRG, RUN, RES): what one script run did, seen from outside."""

    scenario: str
    task: str
    traincfg: Mapping[str, Any]
    progress: tuple[Any, ...] = ()  # ProgressLine objects of the exact progress lines, in order
    near_misses: tuple[Any, ...] = ()  # ProgressLine objects of lines that look like progress lines
    returncode: int | None = None  # negative: killed by that signal
    timed_out: bool = False
    timeout: float = 0.0
    stopped_by_kit: bool = False  # the kit ended the run on purpose after its first progress line
    start_error: str | None = None
    stderr_tail: str = ""
    stdout_bytes: int = 0
    calls: tuple[S3Call, ...] = ()  # the script's requests to the mock S3, in order
    bucket: str = ""
    dataset_prefix: str = ""  # "devel/<owner>/dataset/<kind>/<id>/"
    dataset_before: Mapping[str, str] | None = None  # fingerprint (key -> digest) before the run
    dataset_after: Mapping[str, str] | None = None
    gpu_num: int = 0
    child_env: Mapping[str, str] = field(default_factory=dict)  # the environment the kit gave the script
    probe: Mapping[str, Any] | None = None  # what the in-process probe saw (None: it could not report)
    resume_key: str | None = None  # the key of the weights the resume scenario offered
    checkpoint_change: str | None = None  # resume-partial: how the offered checkpoint differs from the model
    buffering: BufferingProbe | None = None
    scenario_errors: tuple[str, ...] = ()  # rule IDs of the errors found in this scenario by the other rules
    # what the sandbox refused and recorded (harness/sandbox.py SandboxEvent: kind, target, call, pid)
    sandbox_events: tuple[Any, ...] = ()
    sandbox_level: str = "none"  # "os", "guard" or "none": how much of RUN003/RUN007 could be seen

    @property
    def epochs(self) -> int:
        """The traincfg's epochs (N of every progress line)."""
        try:
            return int(self.traincfg.get("epochs", 0))
        except (TypeError, ValueError):
            return 0

    @property
    def ended_normally(self) -> bool:
        """True when the script ended by itself with exit status 0."""
        ended = not self.timed_out and not self.stopped_by_kit and not self.start_error
        return ended and self.returncode == 0

    def when(self) -> str:
        """Where the run had got to, in words: "after epoch k of N" or "before its first progress line"."""
        k = self.last_k
        return f"after epoch {k} of {self.epochs}" if k is not None else "before its first progress line"

    @property
    def last_k(self) -> int | None:
        """The highest k announced by an exact progress line, if any."""
        ks = [p.k for p in self.progress if p.k is not None]
        return max(ks) if ks else None
