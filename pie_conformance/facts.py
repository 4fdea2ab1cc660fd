"""Facts: what a run produced, as plain frozen data. The bottom layer of the kit.

Nothing here imports any other module of the kit, nor anything beyond the standard library, so every layer
may import it: the rules judge these facts, the harness makes them, the reporters read them. Reading a
picture or loading weights is not a fact but a question about one; rules ask it through the typed,
memoised methods of :class:`ProgressContext` (``ctx.picture(rel)``, ``ctx.weights(rel)``), which forward
to an :class:`OutputInspector` the harness supplies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "REQUIRED_PICTURES",
    "BufferingProbe",
    "ColourCensus",
    "FileInfo",
    "OutputInspector",
    "PictureInfo",
    "ProgressContext",
    "ProgressLine",
    "RunRecord",
    "S3Call",
    "Snapshot",
    "WeightsResult",
]

#: Pictures each task must write to ``output/picture/`` (the contract, section 2).
REQUIRED_PICTURES: dict[str, tuple[str, ...]] = {
    "detection": ("pred.png",),
    "segmentation": ("image.png", "label.png", "pred.png"),
    "change_detection": ("A.png", "B.png", "label.png", "pred.png"),
}


# -- the files of a run ----------------------------------------------------------------------------------


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


# -- what was learnt about one file --------------------------------------------------------------------


@dataclass(frozen=True)
class PictureInfo:
    """What inspecting one picture file learnt: either a valid PNG's size, or the problem."""

    ok: bool
    problem: str | None = None  # plain words: "is a JPEG file, not a PNG"
    hint: str | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None  # Pillow's mode of the decoded picture ("RGB", "L", "P", ...)
    too_large: bool = False  # past the kit's decode limit: not checked further (OUT011)

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` when known."""
        if self.width is None or self.height is None:
            return None
        return (self.width, self.height)


@dataclass(frozen=True)
class ColourCensus:
    """How many pixels of a picture have a colour outside an allowed set, and which colours those are."""

    pixels: int  # all pixels of the picture
    stray_pixels: int  # pixels whose colour is not allowed
    stray_distinct: int  # number of distinct stray colours (a lower bound when ``exact`` is False)
    most_common: tuple[tuple[tuple[int, int, int], int], ...]  # (colour, pixel count), most common first
    exact: bool = True  # False when the distinct count was taken over a bounded sample of stray pixels

    @property
    def clean(self) -> bool:
        """True when every pixel has an allowed colour."""
        return self.stray_pixels == 0


@dataclass(frozen=True)
class WeightsResult:
    """The verdict on one weights file.

    ``status`` is "ok" (a non-empty mapping of names to tensors), "invalid" (the file is not that;
    ``error`` says what it is), "unavailable" (the loader could not judge: it hung, crashed or torch
    is missing; ``error`` says which) or "unchecked" (the caller chose not to load it, e.g. too large).
    """

    status: str
    error: str | None = None
    tensors: int = 0
    digest: str | None = None  # sha256 over every tensor's name, dtype, shape and bytes (ok only)
    found: str | None = None  # what the file holds when invalid, e.g. "pickled torch.nn.Linear"

    @property
    def ok(self) -> bool:
        """True for a loadable mapping of names to tensors."""
        return self.status == "ok"


class OutputInspector(Protocol):
    """Answers questions about the files of a snapshot; the harness supplies one per run.

    Answers are memoised by content digest, so a file that did not change between two progress lines is
    read once. Nothing here raises on a bad file: the answer says what is wrong.
    """

    def picture(self, snapshot: Snapshot, info: FileInfo) -> PictureInfo:
        """The inspection of a picture of ``snapshot``."""
        ...

    def census(
        self, snapshot: Snapshot, info: FileInfo, allowed: tuple[tuple[int, int, int], ...]
    ) -> ColourCensus | None:
        """The colours of a decodable picture outside ``allowed`` (None when it does not decode)."""
        ...

    def weights(self, snapshot: Snapshot, info: FileInfo) -> WeightsResult:
        """The verdict of ``torch.load(weights_only=True)`` on a weights file of ``snapshot``."""
        ...


@dataclass(frozen=True)
class ProgressContext:
    """The input of every progress-time rule (OUT): the snapshot at a progress line and the one before."""

    task: str
    traincfg: Mapping[str, Any]  # the config the script was given (valid: the harness made it)
    snapshot: Snapshot
    previous: Snapshot | None  # the snapshot at the previous progress line, if any
    inspector: OutputInspector = field(compare=False, repr=False)
    scenario: str = "baseline"
    # run-folder paths the script wrote through aiUtils (OUT010 excludes them)
    downloaded: frozenset[str] = frozenset()

    @property
    def model_name(self) -> str:
        """The traincfg's model_name (the weights file is ``output/files/<model_name>.th``)."""
        return str(self.traincfg.get("model_name", ""))

    @property
    def weights_relpath(self) -> str:
        """Where the contract expects the weights, relative to the run folder."""
        return f"output/files/{self.model_name}.th"

    def picture(self, relpath: str) -> PictureInfo:
        """The inspection of picture ``relpath`` of the current snapshot (KeyError: not in it)."""
        return self.inspector.picture(self.snapshot, self.snapshot.files[relpath])

    def census(self, relpath: str, allowed: tuple[tuple[int, int, int], ...]) -> ColourCensus | None:
        """The colour census of picture ``relpath`` of the current snapshot against ``allowed``."""
        return self.inspector.census(self.snapshot, self.snapshot.files[relpath], allowed)

    def weights(self, relpath: str, *, previous: bool = False) -> WeightsResult:
        """The weights verdict on ``relpath`` of the current snapshot (or of the previous one)."""
        snap = self.previous if previous and self.previous is not None else self.snapshot
        return self.inspector.weights(snap, snap.files[relpath])


# -- what the script printed and asked for -------------------------------------------------------------


@dataclass(frozen=True)
class ProgressLine:
    """A stdout line that is, or looks like, a progress line."""

    line: int  # 1-based stdout line number
    text: str  # the line as decoded (terminator removed, truncated for display)
    k: int | None
    n: int | None
    exact: bool  # True: the accepted form; False: a near miss (PRG002)
    elapsed: float = 0.0  # seconds since the script started when the line was read


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
    progress: tuple[ProgressLine, ...] = ()  # the exact progress lines, in order
    near_misses: tuple[ProgressLine, ...] = ()  # lines that look like progress lines
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
    # what the sandbox refused and recorded (objects with kind, target, call and pid attributes)
    sandbox_events: tuple[Any, ...] = ()
    sandbox_level: str = "none"  # "os", "guard" or "none": how much of RUN003/RUN007 could be seen
    # calls of the compatible aiUtils whose answer a quirk of the platform's module changed (objects with
    # call, quirk, detail and hint attributes)
    aiutils_events: tuple[Any, ...] = ()

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
