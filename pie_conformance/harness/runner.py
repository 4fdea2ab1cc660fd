"""The process: run ``python train.py`` in its own process group, stream its output, freeze it at progress.

The script runs in a new session (``start_new_session=True``) so the whole group, grandchildren included, can
be frozen with SIGSTOP while ``output/`` is copied, resumed with SIGCONT, and killed at the time limit. stdout
is read by one thread that parses every line for progress but keeps only a head and a tail of the text;
stderr is read by another thread that keeps a tail.

The time limit bounds the whole run, the time it was held for snapshots or at the gate included: however
slow the snapshots a script provokes (many files, many progress lines), the run ends ``timeout`` seconds
after it started. The callback at a progress line can ask :func:`time_left`; once the limit has passed no
further callback is made.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pie_conformance.facts import ProgressLine
from pie_conformance.harness.progress import classify

#: Bytes of stdout kept from the start and from the end; everything in between is counted, parsed, dropped.
STDOUT_HEAD = 64 * 1024
STDOUT_TAIL = 64 * 1024
STDERR_TAIL = 16 * 1024
#: A line longer than this is parsed from its first bytes only (no progress line is that long).
MAX_LINE = 64 * 1024
_READ = 64 * 1024

ProgressCallback = Callable[[ProgressLine, int], None]
#: The environment variable that tells the script's probe which fd to wait on after a progress line.
PROGRESS_FD_VAR = "PIE_CHECK_PROGRESS_FD"
#: The environment variable naming the fd whose end (EOF) lets the script's first connection through.
GATE_FD_VAR = "PIE_CHECK_GATE_FD"

_current = threading.local()


def time_left() -> float | None:
    """Seconds left before the time limit of the run whose progress callback is running in this thread.

    None outside a progress callback. A snapshot stops copying once this is not positive.
    """
    deadline = getattr(_current, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one script run."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    stdin: bytes = b""
    timeout: float = 600.0
    freeze: bool = True  # SIGSTOP the group while the progress callback runs, and pause the script's print
    stop_after_progress: int | None = None  # end the run (SIGKILL) once this many progress lines were read
    #: Called once the script is started; until it returns, the script's probe holds back its first network
    #: connection (the mock S3 may still be starting). If it raises, the script is killed and it propagates.
    gate: Callable[[], None] | None = None


@dataclass(frozen=True)
class ProcessResult:
    """What one script run did, as seen from outside the process."""

    returncode: int | None  # negative: killed by that signal; None: never started
    timed_out: bool
    stopped_by_kit: bool  # ended on purpose after ``stop_after_progress`` lines
    wall_time: float  # seconds from start to exit, frozen time included (what the time limit bounds)
    frozen_time: float  # seconds the group was held stopped for snapshots
    exit_elapsed: float  # seconds from start to exit
    eof_elapsed: float  # seconds from start to the end of stdout
    progress: tuple[ProgressLine, ...] = ()
    near_misses: tuple[ProgressLine, ...] = ()
    stdout_head: bytes = b""
    stdout_tail: bytes = b""
    stdout_bytes: int = 0
    stdout_lines: int = 0
    stderr_tail: bytes = b""
    stderr_bytes: int = 0
    start_error: str | None = None  # the interpreter could not be started at all
    pids_left: tuple[int, ...] = field(default_factory=tuple)  # processes killed after the main one ended
    gate_time: float = 0.0  # seconds from start until the gate opened (0: no gate)
    waited: float = 0.0  # seconds the script itself spent waiting at the gate (as its probe reported)

    @property
    def script_time(self) -> float:
        """The script's own wall time: start to exit, less the time the kit held it (snapshots, the gate)."""
        return max(0.0, self.wall_time - self.frozen_time - self.waited)

    def stderr_text(self, max_lines: int = 12) -> str:
        """The last lines of stderr as text (for messages)."""
        text = self.stderr_tail.decode("utf-8", errors="replace").rstrip()
        lines = text.splitlines()[-max_lines:]
        return "\n".join(lines)


def _proc_state(pid: int) -> str | None:
    """The one-letter state of a process from /proc (None when it is gone or /proc is absent)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the state follows the last ")".
    rest = data[data.rfind(b")") + 2 :]
    return rest[:1].decode("ascii", errors="replace") or None


def _descendants(root: int) -> list[int]:
    """Pids of every live descendant of ``root`` (found through /proc parent links)."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(name))
    out: list[int] = []
    todo = [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _pipe_holders(fds: Sequence[int]) -> list[int]:
    """Pids of other processes that hold an end of the pipes behind ``fds``."""
    wanted = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            wanted.add(f"pipe:[{os.fstat(fd).st_ino}]")
    me = os.getpid()
    found: list[int] = []
    try:
        names = [n for n in os.listdir("/proc") if n.isdigit() and int(n) != me]
    except OSError:
        return found
    for name in names:
        try:
            links = os.listdir(f"/proc/{name}/fd")
        except OSError:
            continue
        for link in links:
            try:
                if os.readlink(f"/proc/{name}/fd/{link}") in wanted:
                    found.append(int(name))
                    break
            except OSError:
                continue
    return found


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_all(pid: int, extra: Sequence[int] = ()) -> None:
    """SIGKILL the group and every known descendant (a grandchild may have left the group with setsid)."""
    victims = set(_descendants(pid)) | set(extra)
    _signal_group(pid, signal.SIGKILL)
    for v in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(v, signal.SIGKILL)


class _Run:
    """The mutable state of one run, shared by the reader threads and the waiting thread."""

    def __init__(self, spec: ProcessSpec, on_progress: ProgressCallback | None) -> None:
        self.spec = spec
        self.on_progress = on_progress
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.frozen = 0.0
        self.progress: list[ProgressLine] = []
        self.near: list[ProgressLine] = []
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.out_bytes = 0
        self.lines = 0
        self.err_tail = bytearray()
        self.err_bytes = 0
        self.eof = 0.0
        self.stopped_by_kit = False
        self.error: BaseException | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.ack_fd: int | None = None  # write end of the pipe the script's probe waits on
        self.deadline = self.t0 + spec.timeout
        self.over = False  # the time limit has passed: no more callbacks

    # -- stdout ------------------------------------------------------------------------------------
    def _keep(self, data: bytes) -> None:
        room = STDOUT_HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail.append(data)
            self.tail_len += len(data)
            while self.tail and self.tail_len - len(self.tail[0]) >= STDOUT_TAIL:
                self.tail_len -= len(self.tail.popleft())

    def _line(self, raw: bytes) -> None:
        self.lines += 1
        pl = classify(raw, self.lines, time.monotonic() - self.t0)
        if pl is None:
            return
        if not pl.exact:
            self.near.append(pl)
            return
        self.progress.append(pl)
        if self.on_progress is not None and self.error is None and not self.over:
            if time.monotonic() >= self.deadline:
                self.over = True  # the waiting thread ends the run; no snapshot past the limit
            else:
                self._at_progress(pl, len(self.progress))
        if self.spec.stop_after_progress is not None and len(self.progress) >= self.spec.stop_after_progress:
            self.stopped_by_kit = True
            assert self.proc is not None
            _kill_all(self.proc.pid)

    def _at_progress(self, pl: ProgressLine, index: int) -> None:
        assert self.proc is not None and self.on_progress is not None
        pid = self.proc.pid
        t = time.monotonic()
        if self.spec.freeze:
            _signal_group(pid, signal.SIGSTOP)
            # SIGSTOP is delivered asynchronously: wait (briefly) until the main process is really stopped.
            deadline = t + 0.5
            while time.monotonic() < deadline:
                state = _proc_state(pid)
                if state is None or state in "TtZX":
                    break
                time.sleep(0.0002)
        _current.deadline = self.deadline
        try:
            self.on_progress(pl, index)
        except BaseException as exc:  # a kit bug: stop calling back, report it after the run
            self.error = exc
        finally:
            _current.deadline = None
            if self.spec.freeze:
                _signal_group(pid, signal.SIGCONT)
                self._ack()
                with self.lock:
                    self.frozen += time.monotonic() - t

    def _ack(self) -> None:
        """Let the script's print of the progress line return (see harness/_probe/sitecustomize.py)."""
        if self.ack_fd is None:
            return
        try:
            os.write(self.ack_fd, b"\n")
        except OSError:  # the script is gone, or it never waits and the pipe is full: stop answering
            os.close(self.ack_fd)
            self.ack_fd = None

    def read_stdout(self, fd: int) -> None:
        partial = bytearray()
        overlong = False
        try:
            while True:
                try:
                    chunk = os.read(fd, _READ)
                except OSError:
                    break
                if not chunk:
                    break
                self.out_bytes += len(chunk)
                self._keep(chunk)
                start = 0
                while True:
                    nl = chunk.find(b"\n", start)
                    if nl < 0:
                        rest = chunk[start:]
                        if not overlong:
                            partial += rest
                            if len(partial) > MAX_LINE:
                                del partial[MAX_LINE:]
                                overlong = True
                        break
                    piece = chunk[start : nl + 1]
                    if overlong:
                        self._line(bytes(partial))
                    else:
                        partial += piece
                        self._line(bytes(partial))
                    partial.clear()
                    overlong = False
                    start = nl + 1
            if partial:
                self._line(bytes(partial))
        finally:
            self.eof = time.monotonic() - self.t0

    # -- stderr ------------------------------------------------------------------------------------
    def read_stderr(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, _READ)
            except OSError:
                break
            if not chunk:
                break
            self.err_bytes += len(chunk)
            self.err_tail += chunk
            if len(self.err_tail) > 2 * STDERR_TAIL:
                del self.err_tail[: len(self.err_tail) - STDERR_TAIL]


def _open_gate(gate: Callable[[], None], gate_w: int, run: _Run, proc: subprocess.Popen[bytes],
               state: dict[str, Any]) -> None:
    """Call the gate; on success close its pipe (EOF lets the script's connections go), on failure end the
    script (the error is raised once the run is over)."""
    try:
        gate()
    except BaseException as exc:
        state["error"] = exc
        _kill_all(proc.pid)
    else:
        state["time"] = time.monotonic() - run.t0
    finally:
        os.close(gate_w)


def run_process(spec: ProcessSpec, on_progress: ProgressCallback | None = None) -> ProcessResult:
    """Run the script to its end (or the time limit) and return what it did.

    ``on_progress(line, index)`` is called from the stdout thread at each exact progress line while the
    process group is stopped (when ``spec.freeze``); it must be quick and must not raise.
    """
    run = _Run(spec, on_progress)
    env = dict(spec.env)
    pass_fds: tuple[int, ...] = ()
    if spec.freeze:
        # The script's probe waits on this pipe after printing a progress line, until the snapshot is taken.
        wait_fd, run.ack_fd = os.pipe()
        os.set_blocking(run.ack_fd, False)
        env[PROGRESS_FD_VAR] = str(wait_fd)
        pass_fds = (wait_fd,)
    gate_w: int | None = None
    if spec.gate is not None:
        gate_r, gate_w = os.pipe()
        env[GATE_FD_VAR] = str(gate_r)
        pass_fds = (*pass_fds, gate_r)
    try:
        proc = subprocess.Popen(
            list(spec.argv),
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
            pass_fds=pass_fds,
        )
    except OSError as exc:
        for fd in (*pass_fds, run.ack_fd, gate_w):
            if fd is not None:
                os.close(fd)
        return ProcessResult(
            returncode=None, timed_out=False, stopped_by_kit=False, wall_time=0.0, frozen_time=0.0,
            exit_elapsed=0.0, eof_elapsed=0.0, start_error=f"{spec.argv[0]}: {exc.strerror or exc}",
        )
    run.t0 = time.monotonic()
    run.deadline = run.t0 + spec.timeout
    run.proc = proc
    for fd in pass_fds:
        os.close(fd)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    t_out = threading.Thread(target=run.read_stdout, args=(proc.stdout.fileno(),), daemon=True)
    t_err = threading.Thread(target=run.read_stderr, args=(proc.stderr.fileno(),), daemon=True)
    t_out.start()
    t_err.start()
    # The parameters are one JSON line then EOF; a script that never reads stdin must not block us.
    try:
        proc.stdin.write(spec.stdin)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    # The gate opens in its own thread, so that the time limit holds while the mock S3 is still starting.
    gate_state: dict[str, Any] = {"time": 0.0}
    gate_thread: threading.Thread | None = None
    if spec.gate is not None and gate_w is not None:
        gate_thread = threading.Thread(target=_open_gate, args=(spec.gate, gate_w, run, proc, gate_state),
                                       name="pie-check-gate", daemon=True)
        gate_thread.start()

    timed_out = False
    while True:
        remaining = run.deadline - time.monotonic()
        if remaining <= 0:
            run.over = True
            timed_out = not run.stopped_by_kit
            _kill_all(proc.pid)
            proc.wait()
            break
        try:
            proc.wait(timeout=remaining)
            break
        except subprocess.TimeoutExpired:
            continue
    if gate_thread is not None:
        gate_thread.join()  # the kit's own start-up: whatever it raised is raised here, once the run is over
    gate_time = float(gate_state["time"])
    exit_elapsed = time.monotonic() - run.t0
    # Whatever the script left running in its group ends with it. A grandchild that left the group (setsid)
    # and still holds the pipes open is found through /proc by the pipe it holds and killed too.
    _signal_group(proc.pid, signal.SIGKILL)
    t_out.join(timeout=0.5)
    t_err.join(timeout=0.1)
    left: list[int] = []
    if t_out.is_alive() or t_err.is_alive():
        left = _pipe_holders([proc.stdout.fileno(), proc.stderr.fileno()])
        _kill_all(proc.pid, left)
        # A snapshot in progress when the limit passed stops at its next file: wait for it, so that no
        # callback runs once this function has returned.
        t_out.join(timeout=10.0)
    t_err.join(timeout=2.0)
    for stream in (proc.stdout, proc.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    if run.ack_fd is not None:
        os.close(run.ack_fd)
    if run.error is not None:
        raise run.error
    if "error" in gate_state:
        raise gate_state["error"]
    tail = b"".join(run.tail)[-STDOUT_TAIL:]
    return ProcessResult(
        returncode=proc.returncode,
        timed_out=timed_out,
        stopped_by_kit=run.stopped_by_kit,
        wall_time=exit_elapsed,
        frozen_time=min(run.frozen, exit_elapsed),  # a snapshot cut short by the limit ends with the run
        exit_elapsed=exit_elapsed,
        eof_elapsed=run.eof or exit_elapsed,
        progress=tuple(run.progress),
        near_misses=tuple(run.near),
        stdout_head=bytes(run.head),
        stdout_tail=tail,
        stdout_bytes=run.out_bytes,
        stdout_lines=run.lines,
        stderr_tail=bytes(run.err_tail[-STDERR_TAIL:]),
        stderr_bytes=run.err_bytes,
        pids_left=tuple(left),
        gate_time=gate_time,
    )
