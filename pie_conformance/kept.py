"""The kept run folder (``pie-check run --keep DIR``): a public, versioned format, written by the harness
and read back by ``pie-check report DIR`` and the HTML writer, through this module only.

Layout (format 1)::

    DIR/report.json                  the report, as ``--format json`` writes it, with "format": 1
    DIR/dataset.json                 the synthetic dataset the runs read (id, prefix, classes, files)
    DIR/<scenario>/run.json          the run seen from outside: every progress line and when it arrived
    DIR/<scenario>/work/             the run's working directory (traincfg.json, output/ at exit)
    DIR/<scenario>/snapshots/NNNN/   output/ as frozen at the NNNN-th progress line

A reader refuses a format newer than :data:`FORMAT` rather than misread it; fields are only ever added.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pie_conformance._escape import visible_data
from pie_conformance.errors import UsageError
from pie_conformance.facts import ProgressLine
from pie_conformance.findings import Finding, Report, ScenarioResult, Severity

__all__ = [
    "DATASET_FILE",
    "FORMAT",
    "REPORT_FILE",
    "RUN_FILE",
    "KeptRun",
    "KeptScenario",
    "RunFile",
    "load_kept",
    "read_json",
    "report_from_dict",
    "write_report_files",
    "write_run_file",
]

REPORT_FILE = "report.json"
DATASET_FILE = "dataset.json"
RUN_FILE = "run.json"
#: Version of the files above; a reader refuses a newer one rather than misread it.
FORMAT = 1
#: A kept JSON file larger than this is not a file the kit wrote: refuse it instead of reading it all.
_MAX_JSON_BYTES = 64 * 1024 * 1024


def _dump(path: Path, data: Mapping[str, Any]) -> None:
    # Written whole and then renamed, so a reader never sees half a file.
    tmp = path.with_name(path.name + ".tmp")
    # Script-controlled names (not UTF-8, control characters) are written as visible escapes.
    text = json.dumps(visible_data(data), indent=1, ensure_ascii=False,
                      default=lambda o: visible_data(str(o)))
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class RunFile:
    """What ``run.json`` holds: one run of the script seen from outside."""

    mode: str  # "full", "partial" or "buffering"
    progress: tuple[ProgressLine, ...] = ()
    near_misses: tuple[ProgressLine, ...] = ()
    returncode: int | None = None
    timed_out: bool = False
    stopped_by_kit: bool = False
    start_error: str | None = None
    exit_elapsed: float = 0.0
    eof_elapsed: float = 0.0
    frozen_time: float = 0.0
    script_time: float = 0.0
    stdout_bytes: int = 0
    stdout_lines: int = 0
    stderr_bytes: int = 0
    stderr_tail: str = ""
    #: seconds the script was held stopped at each progress line (by 1-based index), so epoch durations
    #: can leave the kit's time out
    holds: Mapping[int, float] = field(default_factory=dict)


def _line(pl: ProgressLine, holds: Mapping[int, float] | None = None,
          index: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "line": pl.line,
        "text": pl.text,
        "k": pl.k,
        "n": pl.n,
        "elapsed": round(float(pl.elapsed), 4),
    }
    if index is not None:
        item["index"] = index
        if holds is not None and index in holds:
            item["held"] = round(holds[index], 4)
    return item


def write_run_file(run_dir: Path, run: RunFile) -> None:
    """Write ``run.json`` for one run."""
    data = {
        "format": FORMAT,
        "mode": run.mode,
        "progress": [_line(pl, run.holds, i) for i, pl in enumerate(run.progress, start=1)],
        "near_misses": [_line(pl) for pl in run.near_misses],
        "returncode": run.returncode,
        "timed_out": run.timed_out,
        "stopped_by_kit": run.stopped_by_kit,
        "start_error": run.start_error,
        "exit_elapsed": round(run.exit_elapsed, 4),
        "eof_elapsed": round(run.eof_elapsed, 4),
        "frozen_time": round(run.frozen_time, 4),
        "script_time": round(run.script_time, 4),
        "stdout_bytes": run.stdout_bytes,
        "stdout_lines": run.stdout_lines,
        "stderr_bytes": run.stderr_bytes,
        "stderr_tail": run.stderr_tail,
    }
    _dump(run_dir / RUN_FILE, data)


def write_report_files(root: Path, report: Report, dataset: Any | None) -> None:
    """Write ``report.json`` and ``dataset.json`` at the top of a kept folder."""
    _dump(root / REPORT_FILE, {"format": FORMAT, **report.to_dict()})
    if dataset is None:
        return
    _dump(
        root / DATASET_FILE,
        {
            "format": FORMAT,
            "task": dataset.task,
            "dataset_id": dataset.dataset_id,
            "prefix": dataset.prefix,
            "size": list(dataset.spec.size),
            "image_format": dataset.spec.image_format,
            "seed": dataset.spec.seed,
            "classes": [c.to_label() for c in dataset.classes],
            "files": {key: len(data) for key, data in dataset.files.items()},
        },
    )


# -- reading -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeptScenario:
    """One scenario's run folder in a kept folder."""

    name: str
    folder: Path
    run: Mapping[str, Any] = field(default_factory=dict)  # run.json ({} when absent)

    @property
    def progress(self) -> list[Mapping[str, Any]]:
        """The exact progress lines, in order, each with index, line, k, n, elapsed and held seconds."""
        items = self.run.get("progress")
        return [p for p in items if isinstance(p, Mapping)] if isinstance(items, list) else []

    @property
    def near_misses(self) -> list[Mapping[str, Any]]:
        """Lines that looked like progress lines but were not exactly the format."""
        items = self.run.get("near_misses")
        return [p for p in items if isinstance(p, Mapping)] if isinstance(items, list) else []

    def snapshot(self, index: int) -> Path:
        """The folder holding ``output/`` as frozen at progress line number ``index`` (1-based)."""
        return self.folder / "snapshots" / f"{index:04d}"

    def snapshot_indices(self) -> list[int]:
        """The indices of the snapshots present on disk, ascending."""
        found = []
        try:
            for entry in os.scandir(self.folder / "snapshots"):
                if entry.name.isdigit() and entry.is_dir(follow_symlinks=False):
                    found.append(int(entry.name))
        except OSError:
            return []
        return sorted(found)

    @property
    def work(self) -> Path:
        """The run's working directory."""
        return self.folder / "work"


@dataclass(frozen=True)
class KeptRun:
    """A kept folder read back: the report, the dataset, and the run folders of the scenarios that ran."""

    root: Path
    report: Report
    dataset: Mapping[str, Any] = field(default_factory=dict)
    scenarios: tuple[KeptScenario, ...] = ()


def read_json(path: Path) -> Any:
    """A JSON file the kit wrote; ValueError (with the reason) when it cannot be read."""
    try:
        if path.stat().st_size > _MAX_JSON_BYTES:
            raise ValueError(f"{path} is larger than {_MAX_JSON_BYTES // (1024 * 1024)} MiB")
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """The :class:`Report` that ``Report.to_dict`` (plus a ``format`` key) wrote."""
    findings = []
    for item in data.get("findings") or []:
        if not isinstance(item, Mapping):
            continue
        try:
            severity = Severity(item.get("severity"))
        except ValueError:
            continue
        findings.append(
            Finding(
                rule=str(item.get("rule", "")),
                severity=severity,
                message=str(item.get("message", "")),
                scenario=_opt_str(item.get("scenario")),
                epoch=_opt_int(item.get("epoch")),
                path=_opt_str(item.get("path")),
                hint=_opt_str(item.get("hint")),
                line=_opt_int(item.get("line")),
            )
        )
    scenarios = []
    for item in data.get("scenarios") or []:
        if not isinstance(item, Mapping):
            continue
        details = {k: v for k, v in item.items() if k not in ("name", "status", "note")}
        scenarios.append(
            ScenarioResult(
                name=str(item.get("name", "")),
                status=str(item.get("status", "ran")),
                note=_opt_str(item.get("note")),
                details=details,
            )
        )
    timings = {
        str(k): float(v)
        for k, v in (data.get("timings") or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    known = {"format", "conformant", "kind", "task", "script", "scenarios", "findings", "timings"}
    return Report(
        kind=str(data.get("kind", "run")),
        subject=str(data.get("script", "")),
        findings=tuple(findings),
        task=_opt_str(data.get("task")),
        scenarios=tuple(scenarios),
        timings=timings,
        extra={k: v for k, v in data.items() if k not in known},
    )


def load_kept(path: str | os.PathLike[str]) -> KeptRun:
    """Read a folder kept by ``pie-check run --keep``; UsageError when it is not one."""
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{path}: expected the folder given to pie-check run --keep, got no such folder")
    if not (root / REPORT_FILE).is_file():
        raise UsageError(
            f"{path}: expected a folder kept by pie-check run --keep, got no {REPORT_FILE} in it "
            "(was the run interrupted, or kept by an older pie-check? run it again with --keep)"
        )
    try:
        data = read_json(root / REPORT_FILE)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(data, Mapping):
        raise UsageError(f"{root / REPORT_FILE}: expected a JSON object, got {type(data).__name__}")
    if isinstance(data.get("format"), int) and data["format"] > FORMAT:
        raise UsageError(
            f"{root / REPORT_FILE}: expected kept-folder format {FORMAT} or older, got {data['format']} "
            "(written by a newer pie-check)"
        )
    report = report_from_dict(data)
    dataset: Mapping[str, Any] = {}
    if (root / DATASET_FILE).is_file():
        try:
            loaded = read_json(root / DATASET_FILE)
        except ValueError:
            loaded = None
        dataset = loaded if isinstance(loaded, Mapping) else {}
    scenarios = []
    for s in report.scenarios:
        folder = root / s.name
        # The name comes from the file: never let it point outside the kept folder.
        if s.status != "ran" or not s.name or "/" in s.name or s.name in (".", "..") or not folder.is_dir():
            continue
        run: Mapping[str, Any] = {}
        if (folder / RUN_FILE).is_file():
            try:
                loaded = read_json(folder / RUN_FILE)
            except ValueError:
                loaded = None
            run = loaded if isinstance(loaded, Mapping) else {}
        scenarios.append(KeptScenario(name=s.name, folder=folder, run=run))
    return KeptRun(root=root, report=report, dataset=dataset, scenarios=tuple(scenarios))
