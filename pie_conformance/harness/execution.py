"""One run of the script: a fresh run folder, the platform's environment, the sandbox, the process, a
snapshot at every progress line, and the run's record once it has ended.

:class:`ScriptRunner` holds what every run of a check shares (the script, the options, the data session, the
inspection service, the sandbox plan) and the time spent in each phase; :meth:`ScriptRunner.run` makes one
run and returns its :class:`Outcome`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pie_conformance.aiutils_events import read_events
from pie_conformance.facts import ProgressLine, RunRecord, S3Call, Snapshot
from pie_conformance.findings import Finding
from pie_conformance.harness.inspection import Inspection
from pie_conformance.harness.judge import ProgressJudge
from pie_conformance.harness.options import CheckOptions
from pie_conformance.harness.runner import ProcessResult, ProcessSpec, run_process
from pie_conformance.harness.sandbox import SandboxOutcome, SandboxPlan, SandboxRun, setup_problems
from pie_conformance.harness.session import DataSession, PortTaken
from pie_conformance.harness.snapshot import scan_tree, take_snapshot
from pie_conformance.kept import RunFile, write_run_file
from pie_conformance.s3 import AIUTILS_PATH

__all__ = ["PROBE_DIR", "SCRIPT_TZ", "Outcome", "ProgressHook", "ScriptRunner", "script_now"]

#: The script's time zone: the platform's (China Standard Time) as a POSIX rule, which needs no tz database.
SCRIPT_TZ = "CST-8"
SCRIPT_UTC_OFFSET = timedelta(hours=8)
PROBE_DIR = Path(__file__).resolve().parent / "_probe"
#: Folders of the script's folder that are not copied into the run folder: outputs of an earlier local run
#: would otherwise stand in for the ones the script has to write.
_NOT_COPIED = ("output", "__pycache__", ".ipynb_checkpoints", ".git")

#: Called at each progress line of a run: (scenario, k, N).
ProgressHook = Callable[[str, int, int], None]


def script_now() -> datetime:
    """The current time as the script sees it under ``SCRIPT_TZ`` (naive, like time.localtime())."""
    return datetime.now(timezone(SCRIPT_UTC_OFFSET)).replace(tzinfo=None)


@dataclasses.dataclass
class Outcome:
    """What one run produced: its record for the end-of-run rules, the progress-time findings, its last
    snapshot, and where its folder is."""

    record: RunRecord
    result: ProcessResult
    findings: list[Finding]
    last_snapshot: Snapshot | None
    run_dir: Path
    sandbox: SandboxOutcome | None = None
    mode: str = "full"  # "full", "partial" or "buffering"
    rules_checked: list[str] = dataclasses.field(default_factory=list)  # set by the scenario that judged it


@dataclasses.dataclass
class _Live:
    """The state of one run while it goes on."""

    name: str
    traincfg: Mapping[str, Any]
    mode: str
    run_dir: Path
    work: Path
    env: dict[str, str]
    aiutils: Mapping[str, str]
    judge: ProgressJudge | None
    opened: dict[str, Any] = dataclasses.field(default_factory=dict)
    holds: dict[int, float] = dataclasses.field(default_factory=dict)
    known_outside: dict[str, Any] = dataclasses.field(default_factory=dict)  # take_snapshot's memo
    t0: float = 0.0


class ScriptRunner:
    """Makes the runs of one check and keeps the time each phase took."""

    def __init__(self, script: Path, options: CheckOptions, session: DataSession, inspection: Inspection,
                 plan: SandboxPlan, root: Path, on_progress: ProgressHook | None = None) -> None:
        self.script = script
        self.options = options
        self.session = session
        self.inspection = inspection
        self.plan = plan
        self.root = root
        self.keep = options.keep is not None
        self.on_progress = on_progress
        self.sandbox_problems: set[str] = set()  # launcher set-up steps that failed, over all runs
        #: Seconds spent per phase, summed over runs (the report's timings).
        self.phases: dict[str, float] = dict.fromkeys(
            ("prepare", "script", "frozen", "gate_wait", "after_exit"), 0.0)

    # -- one run -------------------------------------------------------------------------------------
    def run(self, name: str, traincfg: Mapping[str, Any], *, mode: str = "full",
            resume_key: str | None = None, checkpoint_change: str | None = None) -> Outcome:
        """One script run. ``mode``: full (snapshots and every rule), partial (ends at the first progress
        line), buffering (without PYTHONUNBUFFERED; only the arrival times of progress lines count)."""
        t_prepare = time.monotonic()
        live = self._prepare(name, traincfg, mode)
        box = SandboxRun(self.plan, live.run_dir, live.work, self.session.endpoint)
        argv, env = box.wrap([self.options.python, "train.py"], live.env)
        before = scan_tree(live.work)
        # The first run starts while the mock S3 is still starting: the script's first connection waits.
        gate = None if self.session.ready else (lambda: self._open(live))
        if gate is None:
            self._open(live)
        spec = ProcessSpec(
            argv=argv, cwd=live.work, env=env,
            stdin=(json.dumps(traincfg, ensure_ascii=False) + "\n").encode("utf-8"),
            timeout=self.options.timeout, freeze=mode == "full",
            stop_after_progress=1 if mode == "partial" else None, gate=gate,
        )
        self.phases["prepare"] += time.monotonic() - t_prepare
        live.t0 = time.monotonic()
        try:
            try:
                result = run_process(spec, lambda pl, index: self._at_progress(live, pl, index, before))
            finally:
                sandboxed = box.finish()
                self.sandbox_problems.update(setup_problems(sandboxed))
        except PortTaken:
            # The mock S3 now runs on another port: this run starts again from scratch with the new endpoint.
            if live.judge is not None:
                live.judge.abandon()
            shutil.rmtree(live.run_dir, ignore_errors=True)
            return self.run(name, traincfg, mode=mode, resume_key=resume_key,
                            checkpoint_change=checkpoint_change)
        return self._conclude(live, result, sandboxed, resume_key, checkpoint_change)

    def _prepare(self, name: str, traincfg: Mapping[str, Any], mode: str) -> _Live:
        run_dir, work = self._prepare_folder(name, traincfg)
        aiutils = self.session.aiutils_env(notebook=not traincfg.get("dataset_id"))
        env = self._env(run_dir, aiutils, unbuffered=mode != "buffering")
        judge = None
        if mode == "full":
            start = script_now()
            window = (start - timedelta(seconds=1), start + timedelta(seconds=self.options.timeout + 60))
            judge = ProgressJudge(
                scenario=name, task=self.options.task, traincfg=traincfg, inspector=self.inspection,
                downloaded_digests=self.session.served_digests, keep=self.keep, window=window,
                options=self.options.rule_options(),
            )
        return _Live(name, traincfg, mode, run_dir, work, env, aiutils, judge)

    def _open(self, live: _Live) -> None:
        n_before, fingerprint = self.session.open()
        live.opened.update(n_before=n_before, fingerprint=fingerprint)

    def _at_progress(self, live: _Live, pl: ProgressLine, index: int, before: Any) -> None:
        if live.judge is not None:
            t_hold = time.monotonic()
            snap = take_snapshot(
                live.work, live.run_dir / "snapshots" / f"{index:04d}", index=index, k=pl.k, n=pl.n,
                line=pl.line, elapsed=time.monotonic() - live.t0, before=before,
                known_outside=live.known_outside,
            )
            live.judge.put(snap)
            live.holds[index] = time.monotonic() - t_hold
        if self.on_progress is not None and pl.k is not None and pl.n is not None:
            self.on_progress(live.name, pl.k, pl.n)

    def _conclude(self, live: _Live, result: ProcessResult, sandboxed: SandboxOutcome, resume_key: str | None,
                  checkpoint_change: str | None) -> Outcome:
        if sandboxed.returncode is not None and result.returncode is not None:
            # The launcher saw the script's own status (as PID 1 of a namespace it cannot die of a signal).
            result = dataclasses.replace(result, returncode=sandboxed.returncode)
        t_exit = time.monotonic()
        self.phases["frozen"] += result.frozen_time
        findings: list[Finding] = []
        if live.judge is not None:
            findings = live.judge.finish(completed=result.returncode == 0 and not result.timed_out)
        calls = tuple(
            S3Call(op=r.op, bucket=r.bucket, key=r.key, status=int(getattr(r, "status", 200) or 0))
            for r in self.session.requests_since(live.opened["n_before"])
        )
        probe = self._read_probe(live.run_dir / "probe.json")
        waited = probe.get("gate_wait") if isinstance(probe, dict) else None
        if isinstance(waited, (int, float)) and 0 < waited <= result.gate_time + 0.01:
            result = dataclasses.replace(result, waited=float(waited))
        self.phases["script"] += result.script_time
        self.phases["gate_wait"] += result.waited
        record = RunRecord(
            scenario=live.name, task=self.options.task, traincfg=live.traincfg, progress=result.progress,
            near_misses=result.near_misses, returncode=result.returncode, timed_out=result.timed_out,
            timeout=self.options.timeout, stopped_by_kit=result.stopped_by_kit,
            start_error=result.start_error,
            stderr_tail=self._own_paths(result.stderr_text(40), live.work), stdout_bytes=result.stdout_bytes,
            calls=calls, bucket=self.session.bucket, dataset_prefix=self.session.ds.prefix,
            dataset_before=live.opened["fingerprint"], dataset_after=self.session.fingerprint(),
            gpu_num=self.options.base_gpu_num, child_env={
                k: v for k, v in live.env.items()
                if k not in live.aiutils and k not in ("PIE_CHECK_PROBE", "PIE_AIUTILS_EVENTS")
                and not k.startswith("PIE_GUARD_")
            }, probe=probe, resume_key=resume_key, checkpoint_change=checkpoint_change,
            sandbox_events=sandboxed.events, sandbox_level=self.plan.describe()["level"],
            aiutils_events=read_events(live.run_dir / "aiutils-events.jsonl"),
        )
        self.phases["after_exit"] += time.monotonic() - t_exit
        if self.keep:
            write_run_file(live.run_dir, _run_file(result, live))
        last = live.judge.last if live.judge is not None else None
        return Outcome(record, result, findings, last, live.run_dir, sandboxed, mode=live.mode)

    # -- the run folder and environment ---------------------------------------------------------------
    def _prepare_folder(self, name: str, traincfg: Mapping[str, Any]) -> tuple[Path, Path]:
        run_dir = self.root / name
        work = run_dir / "work"
        # Links are followed, as an upload of the folder would. copytree collects what it could not copy
        # (a dangling link, an unreadable file) and raises it at the end: those are left out, as on upload.
        top = self.script.parent
        with contextlib.suppress(shutil.Error):
            shutil.copytree(
                top, work, symlinks=False,
                ignore=lambda d, names: [n for n in names if Path(d) == top and n in _NOT_COPIED],
            )
        (run_dir / "home").mkdir()
        (run_dir / "tmp").mkdir()
        (work / "traincfg.json").write_text(json.dumps(traincfg, ensure_ascii=False), encoding="utf-8")
        return run_dir, work

    def _env(self, run_dir: Path, aiutils: Mapping[str, str], *, unbuffered: bool) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "TZ": SCRIPT_TZ,
            "HOME": str(run_dir / "home"),
            "TMPDIR": str(run_dir / "tmp"),
            # Byte-code caches would be files outside output/ that the platform never sees.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join([str(PROBE_DIR), str(AIUTILS_PATH)]),
            "PIE_CHECK_PROBE": str(run_dir / "probe.json"),
            # The compatible aiUtils notes each call a quirk of the platform's module answered (RUN008).
            "PIE_AIUTILS_EVENTS": str(run_dir / "aiutils-events.jsonl"),
        }
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        env.update(aiutils)
        gpu_num = self.options.base_gpu_num
        if gpu_num == 0:
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        else:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(gpu_num))
        return env

    @staticmethod
    def _read_probe(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _own_paths(self, text: str, work: Path) -> str:
        """``text`` with run-folder paths replaced by the script's own folder (tracebacks read better)."""
        return text.replace(str(work) + os.sep, str(self.script.parent) + os.sep)


def _run_file(result: ProcessResult, live: _Live) -> RunFile:
    return RunFile(
        mode=live.mode, progress=result.progress, near_misses=result.near_misses,
        returncode=result.returncode,
        timed_out=result.timed_out, stopped_by_kit=result.stopped_by_kit, start_error=result.start_error,
        exit_elapsed=result.exit_elapsed, eof_elapsed=result.eof_elapsed, frozen_time=result.frozen_time,
        script_time=result.script_time, stdout_bytes=result.stdout_bytes, stdout_lines=result.stdout_lines,
        stderr_bytes=result.stderr_bytes, stderr_tail=result.stderr_text(40), holds=dict(live.holds),
    )
