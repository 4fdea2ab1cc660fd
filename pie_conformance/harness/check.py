"""``check_script``: run a train.py as the platform does, under each scenario, and check the contract.

One way through: scenario -> dataset -> mock S3 -> sandboxed process -> progress events -> snapshot -> rules
-> report. The progress-time rules (OUT, LOG) run in a background thread on frozen snapshots while the
script goes on, so checking epoch 200 costs the script what checking epoch 2 does; the end-of-run rules
(PRG, RUN, RES) run on the run's record once the process has ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pie_conformance.errors import UsageError
from pie_conformance.findings import Finding, Report, ScenarioResult, Severity
from pie_conformance.harness import scenarios as sc
from pie_conformance.harness._dedup import merge_repeats
from pie_conformance.harness.context import BufferingProbe, ProgressContext, RunRecord, S3Call, Snapshot
from pie_conformance.harness.progress import ProgressLine
from pie_conformance.harness.runner import ProcessResult, ProcessSpec, run_process
from pie_conformance.harness.sandbox import (
    ResourceLimits,
    SandboxOutcome,
    SandboxPlan,
    SandboxRun,
    plan_sandbox,
    setup_problems,
)
from pie_conformance.harness.snapshot import OUTPUT_DIR, read_snapshot_file, scan_tree, take_snapshot

#: The script's time zone: the platform's (China Standard Time) as a POSIX rule, which needs no tz database.
SCRIPT_TZ = "CST-8"
SCRIPT_UTC_OFFSET = timedelta(hours=8)
DEFAULT_TIMEOUT = 600.0
DEFAULT_IMAGES = 4
DEFAULT_SIZE = (64, 64)
_PROBE_DIR = Path(__file__).resolve().parent / "_probe"
#: Folders of the script's folder that are not copied into the run folder: outputs of an earlier local run
#: would otherwise stand in for the ones the script has to write.
_NOT_COPIED = ("output", "__pycache__", ".ipynb_checkpoints", ".git")

#: Called at each progress line of a run: (scenario, k, N).
ProgressHook = Callable[[str, int, int], None]


def script_now() -> datetime:
    """The current time as the script sees it under ``SCRIPT_TZ`` (naive, like time.localtime())."""
    return datetime.now(timezone(SCRIPT_UTC_OFFSET)).replace(tzinfo=None)


def resolve_script(path: str | os.PathLike[str]) -> Path:
    """The train.py that ``path`` names (the file or its folder); UsageError otherwise."""
    p = Path(path)
    if p.is_dir():
        p = p / "train.py"
    if not p.exists():
        raise UsageError(f"no train.py at {path}: give the script or the folder that holds it")
    if not p.is_file():
        raise UsageError(f"{p} is not a file")
    if p.name != "train.py":
        raise UsageError(f"expected the platform's entry script named train.py, got {p.name}")
    return p.resolve()


def _ids(family: str) -> list[str]:
    """The registered rule IDs of one family (PRG, OUT, ...), in catalogue order."""
    from pie_conformance.rules import all_rules

    return [r.id for r in all_rules() if r.family == family]


def _trainlog_checker(traincfg: Mapping[str, Any], window: tuple[datetime, datetime]) -> Any:
    try:
        from pie_conformance.trainlog import TrainlogChecker
    except ModuleNotFoundError as exc:  # the LOG family is optional while the kit is assembled
        if exc.name and exc.name.startswith("pie_conformance.trainlog"):
            return None
        raise
    return TrainlogChecker(traincfg, run_window=window)


class _ProgressChecks:
    """Runs the progress-time rules on each snapshot, in order, in a background thread."""

    def __init__(self, scenario: str, task: str, traincfg: Mapping[str, Any], cache: dict[str, Any],
                 downloaded_digests: frozenset[str], keep: bool, window: tuple[datetime, datetime]) -> None:
        self.scenario = scenario
        self.task = task
        self.traincfg = traincfg
        self.cache = cache
        self.digests = downloaded_digests
        self.keep = keep
        self.out_ids = _ids("OUT")
        self.log = _trainlog_checker(traincfg, window)
        self.findings: list[Finding] = []
        self.error: BaseException | None = None
        self.previous: Snapshot | None = None
        self.last: Snapshot | None = None
        self.queue: queue.Queue[Snapshot | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _trainlog_bytes(self, snap: Snapshot) -> bytes | None:
        rel = f"{OUTPUT_DIR}/trainlog.json"
        info = snap.files.get(rel)
        if info is None or info.is_symlink:
            return None
        return read_snapshot_file(snap, rel)

    def _check(self, snap: Snapshot, *, final: bool) -> list[Finding]:
        from pie_conformance.rules import evaluate

        downloaded = frozenset(rel for rel, info in snap.outside.items() if info.digest in self.digests)
        ctx = ProgressContext(
            task=self.task, traincfg=self.traincfg, snapshot=snap, previous=self.previous,
            scenario=self.scenario, downloaded=downloaded, cache=self.cache,
        )
        found = list(evaluate(self.out_ids, ctx, scenario=self.scenario, epoch=snap.k))
        if self.log is not None:
            for f in self.log.check(self._trainlog_bytes(snap), progress_k=snap.k, final=final):
                epoch = f.epoch if f.epoch is not None else snap.k
                found.append(dataclasses.replace(f, scenario=self.scenario, epoch=epoch))
        return found

    def _work(self) -> None:
        while True:
            snap = self.queue.get()
            if snap is None:
                return
            if self.error is not None:
                continue
            try:
                # The last snapshot is judged once the run has ended, when it is known to be the last.
                if self.last is not None:
                    self.findings += self._check(self.last, final=False)
                    self._drop(self.previous)
                    self.previous = self.last
                self.last = snap
            except BaseException as exc:  # a kit bug: reported after the run, never a hung script
                self.error = exc

    def _drop(self, snap: Snapshot | None) -> None:
        if snap is not None and not self.keep:
            shutil.rmtree(snap.root, ignore_errors=True)

    def finish(self, *, completed: bool) -> list[Finding]:
        """Judge the last snapshot (``final`` when the run ended by itself) and return every finding."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        # With no progress line at all there is no epoch to judge outputs at: PRG001 or RUN001 says why.
        if self.last is not None:
            self.findings += self._check(self.last, final=completed)
        return self.findings


@dataclasses.dataclass
class _Outcome:
    record: RunRecord
    result: ProcessResult
    findings: list[Finding]
    last_snapshot: Snapshot | None
    run_dir: Path
    sandbox: SandboxOutcome | None = None


class _Check:
    """One ``check_script`` call: the dataset, the mock S3, and the runs of its scenarios."""

    def __init__(self, script: Path, task: str, *, epochs: int, python: str, timeout: float, gpu_num: int,
                 root: Path, keep: bool, on_progress: ProgressHook | None,
                 sandbox: SandboxPlan | None = None) -> None:
        self.script = script
        self.sandbox = sandbox or plan_sandbox("none")
        self.sandbox_problems: set[str] = set()  # launcher set-up steps that failed, over all runs
        self.task = task
        self.epochs = epochs
        self.python = python
        self.timeout = timeout
        self.gpu_num = gpu_num
        self.root = root
        self.keep = keep
        self.on_progress = on_progress
        self.inspector: Any = None
        #: Seconds spent per phase, summed over runs (reported as the report's timings).
        self.phases: dict[str, float] = {
            "prepare": 0.0, "script": 0.0, "frozen": 0.0, "gate_wait": 0.0, "after_exit": 0.0,
        }
        self._s3_ready = False
        self._pending_reset: dict[str, bytes] | None = None

    # -- one run -----------------------------------------------------------------------------------
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

    def _env(self, run_dir: Path, probe: Path, aiutils: Mapping[str, str], *,
             unbuffered: bool) -> dict[str, str]:
        from pie_conformance.s3 import AIUTILS_PATH

        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "TZ": SCRIPT_TZ,
            "HOME": str(run_dir / "home"),
            "TMPDIR": str(run_dir / "tmp"),
            # Byte-code caches would be files outside output/ that the platform never sees.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join([str(_PROBE_DIR), str(AIUTILS_PATH)]),
            "PIE_CHECK_PROBE": str(probe),
        }
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        env.update(aiutils)
        if self.gpu_num == 0:
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        else:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(self.gpu_num))
        return env

    def run(self, name: str, traincfg: dict[str, Any], *, mode: str = "full", resume_key: str | None = None,
            checkpoint_change: str | None = None) -> _Outcome:
        """One script run. ``mode``: full (snapshots and every rule), partial (ends at the first progress
        line), buffering (without PYTHONUNBUFFERED, only the arrival times of progress lines count)."""
        t_prepare = time.monotonic()
        run_dir, work = self._prepare_folder(name, traincfg)
        probe = run_dir / "probe.json"
        aiutils = self.aiutils_env(notebook=not traincfg.get("dataset_id"))
        env = self._env(run_dir, probe, aiutils, unbuffered=mode != "buffering")
        before = scan_tree(work)
        opened: dict[str, Any] = {}

        def open_s3() -> None:
            self._apply_reset()
            opened["n_before"] = len(self.server.requests())  # the kit's own uploads come first in the log
            opened["fingerprint"] = self.store.fingerprint(self.ds.prefix)

        # The first run starts while the mock S3 is still starting: the script's first connection waits.
        gate = open_s3 if not self._s3_ready else None
        if gate is None:
            open_s3()
        start_local = script_now()
        checks: _ProgressChecks | None = None
        known_outside: dict[str, Any] = {}
        snaps_dir = run_dir / "snapshots"
        t0 = time.monotonic()

        if mode == "full":
            cache: dict[str, Any] = {}
            if self.inspector is not None:
                from pie_conformance.harness.weights import INSPECTOR_KEY

                cache[INSPECTOR_KEY] = self.inspector
            window = (start_local - timedelta(seconds=1), start_local + timedelta(seconds=self.timeout + 60))
            checks = _ProgressChecks(name, self.task, traincfg, cache, self.served_digests, self.keep, window)

        holds: dict[int, float] = {}  # seconds spent on each progress line's snapshot (kept in run.json)

        def at_progress(pl: ProgressLine, index: int) -> None:
            if checks is not None:
                t_hold = time.monotonic()
                snap = take_snapshot(
                    work, snaps_dir / f"{index:04d}", index=index, k=pl.k, n=pl.n, line=pl.line,
                    elapsed=time.monotonic() - t0, before=before, known_outside=known_outside,
                )
                checks.queue.put(snap)
                holds[index] = time.monotonic() - t_hold
            if self.on_progress is not None and pl.k is not None and pl.n is not None:
                self.on_progress(name, pl.k, pl.n)

        box = SandboxRun(self.sandbox, run_dir, work, self.endpoint)
        argv, env = box.wrap([self.python, "train.py"], env)
        spec = ProcessSpec(
            argv=argv, cwd=work, env=env,
            stdin=(json.dumps(traincfg, ensure_ascii=False) + "\n").encode("utf-8"),
            timeout=self.timeout, freeze=mode == "full",
            stop_after_progress=1 if mode == "partial" else None, gate=gate,
        )
        self.phases["prepare"] += time.monotonic() - t_prepare
        try:
            try:
                result = run_process(spec, at_progress)
            finally:
                sandboxed = box.finish()
                self.sandbox_problems.update(setup_problems(sandboxed))
        except _PortTaken:
            # The port chosen for the mock S3 was taken meanwhile: it now runs on another one, so this run
            # starts again from scratch with the new endpoint.
            if checks is not None:
                checks.queue.put(None)
            shutil.rmtree(run_dir, ignore_errors=True)
            return self.run(name, traincfg, mode=mode, resume_key=resume_key,
                            checkpoint_change=checkpoint_change)
        n_before, fingerprint_before = opened["n_before"], opened["fingerprint"]
        if sandboxed.returncode is not None and result.returncode is not None:
            # The launcher saw the script's own status (as PID 1 of a namespace it cannot die of a signal).
            result = dataclasses.replace(result, returncode=sandboxed.returncode)
        t_exit = time.monotonic()
        self.phases["frozen"] += result.frozen_time
        findings: list[Finding] = []
        if checks is not None:
            completed = result.returncode == 0 and not result.timed_out
            findings = checks.finish(completed=completed)
        calls = tuple(
            S3Call(op=r.op, bucket=r.bucket, key=r.key, status=int(getattr(r, "status", 200) or 0))
            for r in self.server.requests(since=n_before)
        )
        fingerprint_after = self.store.fingerprint(self.ds.prefix)
        probe_data: dict[str, Any] | None = None
        try:
            probe_data = json.loads(probe.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            probe_data = None
        waited = probe_data.get("gate_wait") if isinstance(probe_data, dict) else None
        if isinstance(waited, (int, float)) and 0 < waited <= result.gate_time + 0.01:
            result = dataclasses.replace(result, waited=float(waited))
        self.phases["script"] += result.script_time
        self.phases["gate_wait"] += result.waited
        record = RunRecord(
            scenario=name, task=self.task, traincfg=traincfg, progress=result.progress,
            near_misses=result.near_misses, returncode=result.returncode, timed_out=result.timed_out,
            timeout=self.timeout, stopped_by_kit=result.stopped_by_kit, start_error=result.start_error,
            stderr_tail=self._own_paths(result.stderr_text(40), work), stdout_bytes=result.stdout_bytes,
            calls=calls,
            bucket=self.bucket, dataset_prefix=self.ds.prefix, dataset_before=fingerprint_before,
            dataset_after=fingerprint_after, gpu_num=self.gpu_num, child_env={
                k: v for k, v in env.items()
                if k not in aiutils and k != "PIE_CHECK_PROBE" and not k.startswith("PIE_GUARD_")
            }, probe=probe_data, resume_key=resume_key, checkpoint_change=checkpoint_change,
            sandbox_events=sandboxed.events, sandbox_level=self.sandbox.describe()["level"],
        )
        last = checks.last if checks is not None else None
        self.phases["after_exit"] += time.monotonic() - t_exit
        if self.keep:
            from pie_conformance.harness._keep import write_run_file

            write_run_file(run_dir, result, mode=mode, holds=holds)
        return _Outcome(record, result, findings, last, run_dir, sandboxed)

    def _own_paths(self, text: str, work: Path) -> str:
        """``text`` with run-folder paths replaced by the script's own folder (tracebacks read better)."""
        return text.replace(str(work) + os.sep, str(self.script.parent) + os.sep)

    # -- S3 ----------------------------------------------------------------------------------------
    def start_s3(self, stack: Any, images: int, size: tuple[int, int], spec: Any = None) -> None:
        """Start the mock S3 (in the background, on a port chosen now) and make the dataset."""
        from pie_conformance.datasets import DatasetSpec, generate
        from pie_conformance.s3 import BUCKET

        self.bucket = BUCKET
        self._stack = stack
        # The port is chosen here so that the first run can start while the server is still starting.
        self._launch_server(_free_port())
        if spec is None:
            spec = DatasetSpec(self.task, train_images=images, valid_images=max(1, images // 2), size=size,
                               seed=0)
        self.ds = generate(spec)
        self.served_digests = frozenset(hashlib.sha256(b).hexdigest() for b in self.ds.files.values())

    def _launch_server(self, port: int) -> None:
        from pie_conformance.s3 import MockS3Server

        server = MockS3Server(port=port)
        failure: list[BaseException] = []

        def start() -> None:
            try:
                server.start()
            except BaseException as exc:  # re-raised by _wait_s3, in the thread that needs the server
                failure.append(exc)

        self._starter = threading.Thread(target=start, daemon=True)
        self._starter.start()
        self._start_failure = failure
        self._stack.callback(_in_background, server.stop)
        self.server = server
        self.endpoint = f"http://127.0.0.1:{port}" if port else ""
        self._s3_ready = False

    def _wait_s3(self) -> None:
        """Block until the server answers; a port taken meanwhile restarts it on a free one (_PortTaken)."""
        if self._s3_ready:
            return
        from pie_conformance.s3 import DatasetStore

        self._starter.join()
        if self._start_failure:
            exc = self._start_failure[0]
            if self.endpoint and "did not start" in str(exc):
                self._launch_server(0)
                self._wait_s3()
                raise _PortTaken(str(exc)) from exc
            raise exc
        self.endpoint = self.server.endpoint_url
        self.store = DatasetStore(self.endpoint)
        self._s3_ready = True

    def reset_s3(self, extra: Mapping[str, bytes] = {}) -> None:  # noqa: B006 - read only
        """A fresh bucket holding the dataset (and the resume weights), as at the start of each run.

        Done when the next run opens the S3 (before it starts, or while the first run waits for it).
        """
        self._pending_reset = dict(extra)
        self.served_digests = self.served_digests | {hashlib.sha256(b).hexdigest() for b in extra.values()}

    def _apply_reset(self) -> None:
        self._wait_s3()
        if self._pending_reset is None:
            return
        extra, self._pending_reset = self._pending_reset, None
        self.server.reset()
        self.store.upload(self.ds)
        for key, data in extra.items():
            self.store.put_object(key, data)

    def use_dataset(self, ds: Any) -> None:
        """Serve another dataset from the next ``reset_s3`` on (the exploration's per-example datasets)."""
        self.ds = ds
        self.served_digests = frozenset(hashlib.sha256(b).hexdigest() for b in ds.files.values())

    def aiutils_env(self, notebook: bool = False) -> dict[str, str]:
        from pie_conformance.s3 import aiutils_env

        registry = {self.ds.dataset_id: f"s3://{self.bucket}/{self.ds.prefix}"}
        # A traincfg with dataset_id "" is the platform's notebook: the id comes from AI_DATASET_ID.
        env = dict(aiutils_env(self.endpoint, registry=registry,
                               dataset_id=self.ds.dataset_id if notebook else None))
        env.pop("PYTHONPATH", None)  # the kit sets its own, without the caller's PYTHONPATH
        return env


def _scenario_result(name: str, outcome: _Outcome, keep: bool) -> ScenarioResult:
    r, rec = outcome.result, outcome.record
    details: dict[str, Any] = {
        "exit_status": r.returncode,
        "timed_out": r.timed_out,
        "stopped_by_kit": r.stopped_by_kit,
        "progress_lines": len(r.progress),
        "last_epoch": rec.last_k,
        "script_seconds": round(r.script_time, 3),
        "frozen_seconds": round(r.frozen_time, 3),
        "stdout_bytes": r.stdout_bytes,
        "stderr_bytes": r.stderr_bytes,
    }
    if r.stdout_bytes > len(r.stdout_head) + len(r.stdout_tail):
        details["stdout_note"] = (
            f"stdout was {r.stdout_bytes} bytes; the report keeps its first and last "
            f"{len(r.stdout_head) // 1024} KiB, every line was read for progress"
        )
    if (r.returncode not in (0, None) and not r.stopped_by_kit) or r.timed_out:
        details["stderr_tail"] = "\n".join(rec.stderr_tail.splitlines()[-20:])
    if outcome.sandbox is not None:
        details["sandbox"] = outcome.sandbox.details()
    if keep:
        details["run_folder"] = str(outcome.run_dir)
    if name == "resume-partial" and rec.checkpoint_change:
        details["checkpoint"] = rec.checkpoint_change
    return ScenarioResult(name=name, status="ran", details=details)


def _evaluate_end(record: RunRecord, families: tuple[str, ...]) -> list[Finding]:
    from pie_conformance.rules import evaluate

    ids = [rid for fam in families for rid in _ids(fam)]
    return list(evaluate(ids, record, scenario=record.scenario))


def check_script(
    path: str | os.PathLike[str],
    *,
    task: str,
    epochs: int = 2,
    images: int | None = None,
    size: tuple[int, int] | None = None,
    gpu_num: int = 0,
    timeout: float | None = None,
    scenarios: list[str] | tuple[str, ...] | None = None,
    python: str | None = None,
    keep: str | os.PathLike[str] | None = None,
    check_buffering: bool = False,
    on_progress: ProgressHook | None = None,
    traincfg: Mapping[str, Any] | None = None,
    explore: int = 0,
    seed: int | None = None,
    explore_budget: float | None = None,
    image_format: str = "png",
    explore_dir: str | os.PathLike[str] | None = None,
    sandbox: str | SandboxPlan = "auto",
    limits: ResourceLimits | None = None,
) -> Report:
    """Run ``path`` (a train.py or its folder) as the platform would, under each scenario, and report.

    ``scenarios`` defaults to all of :data:`~pie_conformance.harness.scenarios.SCENARIOS`; ``keep`` names an
    empty or new folder where the run folders and per-epoch snapshots are kept; ``check_buffering`` adds a run
    without PYTHONUNBUFFERED for PRG006. Bad input raises :class:`~pie_conformance.errors.UsageError`.

    ``traincfg`` replaces the generated configuration (its ``epochs`` and ``gpu_num`` win over the arguments);
    the dataset is made to match it, with ``size`` as the image size when given. ``explore`` adds that many
    generated configurations as scenarios ``explore-<k>`` (see :mod:`pie_conformance.explore`), drawn from
    ``seed`` and stopped when ``explore_budget`` seconds are spent; a failing one is shrunk and saved in
    ``explore_dir`` (default: ``keep``, else the current directory). ``image_format`` (png, jpg, tif) is
    that of the dataset's images.

    ``sandbox`` is ``auto``, ``strict`` or ``none`` (see :mod:`pie_conformance.harness.sandbox`), or a plan
    made with :func:`~pie_conformance.harness.sandbox.plan_sandbox`; ``limits`` bounds memory, file size,
    open files and processes. ``strict`` on a machine without a working bubblewrap is a UsageError.
    """
    t_start = time.monotonic()
    script = resolve_script(path)
    from pie_conformance.tasks import TASKS

    if task not in TASKS:
        raise UsageError(f"expected a task among {', '.join(TASKS)}, got {task!r}")
    if epochs < 1:
        raise UsageError(f"expected --epochs of at least 1, got {epochs}")
    images = DEFAULT_IMAGES if images is None else images
    if images < 1:
        raise UsageError(f"expected --images of at least 1, got {images}")
    size_given = size is not None
    size = DEFAULT_SIZE if size is None else size
    if len(size) != 2 or min(size) < 16 or max(size) > 8192:
        raise UsageError(f"expected a size between 16 and 8192 pixels a side, got {size}")
    if gpu_num < 0:
        raise UsageError(f"expected --gpu-num of 0 or more, got {gpu_num}")
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if timeout <= 0:
        raise UsageError(f"expected a positive --timeout, got {timeout:g}")
    if explore < 0:
        raise UsageError(f"expected --explore of 0 or more, got {explore}")
    if explore_budget is not None and not explore_budget > 0:
        raise UsageError(f"expected a positive --explore-budget, got {explore_budget:g}")
    spec = _dataset_spec(task, traincfg, images, size if size_given else None, image_format)
    if traincfg is not None:
        epochs, gpu_num = int(traincfg["epochs"]), int(traincfg["gpu_num"])
    try:
        names = sc.resolve(scenarios)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    python = python or sys.executable
    if shutil.which(python) is None and not os.access(python, os.X_OK):
        raise UsageError(f"--python {python}: no such interpreter")
    plan = sandbox if isinstance(sandbox, SandboxPlan) else plan_sandbox(sandbox, limits)

    with contextlib.ExitStack() as stack:
        if keep is not None:
            root = Path(keep)
            if root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise UsageError(f"--keep {keep}: expected a new or empty folder")
            root.mkdir(parents=True, exist_ok=True)
            root = root.resolve()
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pie-check-")))
        check = _Check(script, task, epochs=epochs, python=python, timeout=timeout, gpu_num=gpu_num,
                       root=root, keep=keep is not None, on_progress=on_progress, sandbox=plan)
        # The weights are loaded by a helper process that imports torch while the script starts up.
        if _ids("OUT"):
            from pie_conformance.harness.weights import start_inspector

            check.inspector = start_inspector()
            stack.callback(_end_helper, check.inspector)
        check.start_s3(stack, images, size, spec)
        setup = time.monotonic() - t_start
        base_cfg = dict(check.ds.traincfg(epochs=epochs))
        base_cfg.update(gpu_num=gpu_num, auto_termination=0, resume_path="")
        if traincfg is not None:
            base_cfg = dict(traincfg, resume_path="")  # the resume scenarios set their own
        model_name = str(base_cfg.get("model_name", "model"))

        findings: list[Finding] = []
        results: list[ScenarioResult] = []
        script_time = 0.0
        weights: bytes | None = None

        if "baseline" in names:
            check.reset_s3()
            out = check.run("baseline", dict(base_cfg))
            script_time += out.result.script_time
            weights = _final_weights(out.last_snapshot, model_name)
            record = out.record
            if check_buffering:
                check.reset_s3()
                buf = check.run("baseline-buffering", dict(base_cfg), mode="buffering")
                record = dataclasses.replace(record, buffering=BufferingProbe(
                    arrivals=tuple(p.elapsed for p in buf.result.progress), eof=buf.result.eof_elapsed,
                    reference_arrivals=tuple(p.elapsed for p in out.result.progress),
                    reference_eof=out.result.eof_elapsed,
                ))
            findings += merge_repeats(out.findings + _evaluate_end(record, ("PRG", "RUN")))
            results.append(_scenario_result("baseline", out, check.keep))
            if not check.keep:
                shutil.rmtree(out.run_dir, ignore_errors=True)
        else:
            # The resume scenarios need weights of this script: make them with a baseline run not reported.
            if names:
                check.reset_s3()
                out = check.run("baseline", dict(base_cfg))
                weights = _final_weights(out.last_snapshot, model_name)

        owner = check.ds.prefix.split("/")[1] if check.ds.prefix.count("/") > 1 else "system"
        model = sc.resume_model(check.bucket, owner, model_name, f"{task}:{script}")
        for name in names:
            if name == "baseline":
                continue
            if weights is None:
                results.append(ScenarioResult(name=name, status="skipped", note=(
                    f"the baseline left no loadable output/files/{model_name}.th at its last progress line, "
                    "so there are no weights to resume from"
                )))
                continue
            cfg = dict(base_cfg, resume_path=model.resume_path)
            if name == "resume":
                check.reset_s3({model.key: weights})
                out = check.run(name, cfg, resume_key=model.key)
                script_time += out.result.script_time
                own = merge_repeats(out.findings + _evaluate_end(out.record, ("PRG", "RUN")))
                errors = tuple(f.rule for f in own if f.severity is Severity.ERROR)
                rec = dataclasses.replace(out.record, scenario_errors=errors)
                findings += own + _evaluate_end(rec, ("RES",))
            else:
                # Made in the weights helper: the kit never unpickles the script's weights itself.
                partial = check.inspector.partial_checkpoint(weights) if check.inspector is not None else None
                if partial is None:
                    results.append(ScenarioResult(name=name, status="skipped", note=(
                        "the baseline's weights are not a state dict with a floating-point tensor to reshape"
                    )))
                    continue
                data, change = partial
                check.reset_s3({model.key: data})
                out = check.run(name, cfg, mode="partial", resume_key=model.key, checkpoint_change=change)
                script_time += out.result.script_time
                findings += _evaluate_end(out.record, ("RES",))
            results.append(_scenario_result(name, out, check.keep))
            if not check.keep:
                shutil.rmtree(out.run_dir, ignore_errors=True)

        extra: dict[str, Any] = {"sandbox": plan.describe()}
        if explore:
            from pie_conformance.explore import explore as run_exploration

            base_ds = check.ds

            def run_example(name: str, cfg: dict[str, Any], example_spec: Any) -> tuple[list[Finding],
                                                                                         ScenarioResult]:
                nonlocal script_time
                from pie_conformance.datasets import generate

                check.use_dataset(generate(example_spec))
                check.reset_s3()
                out = check.run(name, cfg)
                script_time += out.result.script_time
                own = merge_repeats(out.findings + _evaluate_end(out.record, ("PRG", "RUN")))
                result = _scenario_result(name, out, check.keep)
                if not check.keep:
                    shutil.rmtree(out.run_dir, ignore_errors=True)
                return own, result

            try:
                found = run_exploration(run_example, script=path, task=task, n=explore, seed=seed,
                                        budget=explore_budget,
                                        save_dir=explore_dir or (root if keep is not None else None),
                                        gpu_num=gpu_num)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            check.use_dataset(base_ds)
            findings += found.findings
            results += found.scenarios
            extra["explore"] = found.summary()

    if check.sandbox_problems:
        # What the launcher could not set up on this machine (the plan said it could): never silent.
        extra["sandbox"] = dict(extra["sandbox"], setup_failed=sorted(check.sandbox_problems))
        extra["sandbox"]["summary"] += "; set-up failed: " + "; ".join(sorted(check.sandbox_problems))
    total = time.monotonic() - t_start
    report = Report(
        kind="run", subject=str(script), findings=tuple(findings), task=task, scenarios=tuple(results),
        extra=extra,
        timings={"total": round(total, 3), "script": round(script_time, 3), "setup": round(setup, 3),
                 **{k: round(v, 3) for k, v in check.phases.items() if k != "script"}},
    )
    if keep is not None:
        # pie-check report reads these back (the HTML report of a kept folder).
        from pie_conformance.harness._keep import write_report_files

        write_report_files(root, report, getattr(check, "ds", None))
    return report


def _dataset_spec(task: str, traincfg: Mapping[str, Any] | None, images: int, size: tuple[int, int] | None,
                  image_format: str) -> Any:
    """The spec of the dataset to serve: made to match ``traincfg`` when one is given (None: the default)."""
    from pie_conformance.datasets import DatasetSpec

    if traincfg is None:
        if image_format == "png":
            return None
        try:
            return DatasetSpec(task, train_images=images, valid_images=max(1, images // 2),
                               size=size or DEFAULT_SIZE, image_format=image_format, seed=0)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    from pie_conformance.validate import validate_traincfg

    refused = [f for f in validate_traincfg(dict(traincfg)).findings if f.severity is Severity.ERROR]
    if refused:
        raise UsageError("the traincfg given is not valid for the platform: "
                         + "; ".join(f"{f.rule} {f.message}" for f in refused))
    kw: dict[str, Any] = {"size": size} if size is not None else {}
    try:
        return DatasetSpec.from_traincfg(traincfg, task, train_images=images,
                                         valid_images=max(1, images // 2), image_format=image_format,
                                         seed=0, **kw)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot make a dataset for the traincfg given: {exc}") from None


class _PortTaken(Exception):
    """The mock S3 could not use the port chosen in advance; it was restarted on a free one."""


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the mock S3 binds it a moment later)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _in_background(stop: Callable[[], None]) -> None:
    """Stop a helper process without waiting for it: the report does not depend on its last breath.

    The mock S3 and the weights helper both leave on their own when their stdin closes, so even if this
    process exits first they do not outlive it.
    """
    threading.Thread(target=stop, name="pie-check-stop", daemon=True).start()


def _end_helper(inspector: Any) -> None:
    """End the weights helper at once: it holds nothing worth a graceful exit, and one still importing
    torch would not read its end of input for seconds (the interpreter's exit would wait for it)."""
    import signal

    pid = inspector.pid
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    inspector.close()


def _final_weights(snap: Snapshot | None, model_name: str) -> bytes | None:
    """The weights the platform would have uploaded at the last progress line, if any."""
    if snap is None:
        return None
    rel = f"{OUTPUT_DIR}/files/{model_name}.th"
    info = snap.files.get(rel)
    if info is None or info.digest is None or info.is_symlink:
        return None
    return read_snapshot_file(snap, rel)
