"""The sandbox of a script run: isolation levels, resource limits, and what this machine can enforce.

Three levels (``pie-check run --sandbox``):

- ``strict``: OS-level isolation or nothing. The script runs in new Linux user, network, mount and PID
  namespaces (``unshare``): only loopback exists, the mock S3 is reached through a forwarder of the launcher
  (see :mod:`pie_conformance.harness._guard._launch`), every file system is read-only except the run folder,
  and when the launcher (PID 1 of the namespace) ends, the kernel ends every process left in it. A machine
  that cannot do this makes ``strict`` a usage/environment error (exit 2).
- ``auto`` (the default): the same where the machine allows it, otherwise the in-interpreter guard alone
  (``_guard/sitecustomize.py``), which refuses and records connections and writes made through Python, and
  the report says so.
- ``none``: no launcher, no guard, no limits: the script runs as the bare harness starts it.

In ``strict`` and ``auto`` the guard always runs too, since it is what names the address of a refused
connection (RUN003) or the path of a refused write (RUN007). Resource limits (rlimits and, where the pids
cgroup is writable, a bound on processes) apply in both.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pie_conformance.errors import UsageError

MODES = ("auto", "strict", "none")
_GUARD_DIR = Path(__file__).resolve().parent / "_guard"
_PROBE_FILE = Path(__file__).resolve().parent / "_probe" / "sitecustomize.py"
_LAUNCHER = _GUARD_DIR / "_launch.py"
#: The environment variable every process of a run carries (a random token): how a test finds leftovers.
RUN_MARKER_VAR = "PIE_CHECK_RUN"
#: Where a pids cgroup (v1 hierarchy) may be made for each run.
_PIDS_V1 = Path("/sys/fs/cgroup/pids")
_GUARD_LOG = "sandbox-guard.log"
_CONTROL_SOCKET = "sandbox.sock"
_GIB = 1024**3
_WATCH_INTERVAL = 0.25  # the launcher's WATCH_INTERVAL (it cannot import the kit)


def default_memory_bytes() -> int:
    """The default memory bound: half the machine's memory, and never under 16 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 0
    return max(16 * _GIB, total // 2)


@dataclass(frozen=True)
class ResourceLimits:
    """Bounds put on each process of the script (None: not limited)."""

    #: RLIMIT_DATA, not RLIMIT_AS: torch and CUDA reserve large stretches of address space they never use,
    #: which RLIMIT_AS would count; RLIMIT_DATA counts the private writable memory actually mapped.
    memory_bytes: int | None = field(default_factory=default_memory_bytes)
    file_bytes: int | None = 4 * _GIB  # RLIMIT_FSIZE: the largest file the script may write
    open_files: int | None = 4096  # RLIMIT_NOFILE
    processes: int | None = 1024  # pids cgroup: processes and threads at once, where it can be made

    def describe(self) -> dict[str, int | None]:
        """The limits as a JSON-able mapping (the report's ``extra["sandbox"]["limits"]``)."""
        return {"memory_bytes": self.memory_bytes, "file_bytes": self.file_bytes,
                "open_files": self.open_files, "processes": self.processes}


def limits_from_options(*, memory_mib: int | None = None, file_mib: int | None = None,
                        processes: int | None = None) -> ResourceLimits:
    """The default limits with the command line's choices (MiB) put in."""
    base = ResourceLimits()
    mib = 1024 * 1024
    return ResourceLimits(
        memory_bytes=memory_mib * mib if memory_mib else base.memory_bytes,
        file_bytes=file_mib * mib if file_mib else base.file_bytes,
        open_files=base.open_files,
        processes=processes or base.processes,
    )


@dataclass(frozen=True)
class Capabilities:
    """What this machine lets the kit do, found out once per process."""

    namespaces: bool  # user + network + mount + PID namespaces through unshare
    namespace_error: str | None
    pids_cgroup: Path | None  # a writable pids cgroup hierarchy to make run cgroups in
    cgroup_error: str | None


_CAPS: Capabilities | None = None
_CAPS_LOCK = threading.Lock()


def _probe_namespaces() -> str | None:
    """None when ``unshare`` can make the namespaces the strict sandbox needs, else why not."""
    exe = shutil.which("unshare")
    if exe is None:
        return "no unshare program on PATH (util-linux)"
    argv = [exe, *_UNSHARE_FLAGS, "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare could not run: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        return f"unshare refused: {why[-1] if why else f'exit status {done.returncode}'}"
    return None


def _probe_cgroup() -> tuple[Path | None, str | None]:
    """A pids cgroup hierarchy where the kit may make and remove a cgroup, or why there is none."""
    if not (_PIDS_V1 / "cgroup.procs").exists():
        return None, f"no pids cgroup hierarchy at {_PIDS_V1}"
    test = _PIDS_V1 / f"pie-check-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        test.mkdir()
        (test / "pids.max").write_text("10\n")
    except OSError as exc:
        return None, f"{_PIDS_V1} is not writable here ({exc.strerror or exc})"
    finally:
        with contextlib.suppress(OSError):
            test.rmdir()
    _remove_stale_cgroups(_PIDS_V1)
    return _PIDS_V1, None


def _remove_stale_cgroups(root: Path, age: float = 3600.0) -> None:
    """Remove empty run cgroups over an hour old: what a kit killed outright could not remove itself."""
    now = time.time()
    for cg in root.glob("pie-check-*"):
        with contextlib.suppress(OSError, ValueError):
            if now - cg.stat().st_mtime > age and not (cg / "cgroup.procs").read_text().split():
                cg.rmdir()


#: user (root mapped to the caller), network, mount (with a private /proc), PID (the launcher is PID 1).
_UNSHARE_FLAGS = ("--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--kill-child",
                  "--mount-proc")


def capabilities(refresh: bool = False) -> Capabilities:
    """What this machine allows (probed once: two short subprocess and cgroup checks)."""
    global _CAPS
    with _CAPS_LOCK:
        if _CAPS is None or refresh:
            ns_error = None if sys.platform.startswith("linux") else f"not Linux ({sys.platform})"
            if ns_error is None:
                ns_error = _probe_namespaces()
            cg, cg_error = _probe_cgroup() if sys.platform.startswith("linux") else (None, "not Linux")
            _CAPS = Capabilities(namespaces=ns_error is None, namespace_error=ns_error, pids_cgroup=cg,
                                 cgroup_error=cg_error)
        return _CAPS


@dataclass(frozen=True)
class SandboxPlan:
    """The isolation one check applies to every run, decided once from the mode and the machine."""

    mode: str
    namespaces: bool  # OS-level isolation in force
    guard: bool  # the in-interpreter guard in force
    limits: ResourceLimits
    cgroup_root: Path | None  # where per-run pids cgroups are made (None: processes bounded by nothing)
    output_mount: str = "/output"  # the guide's absolute output folder, mapped onto the run's output/
    not_enforced: tuple[str, ...] = ()  # what this machine could not enforce, in words

    def describe(self) -> dict[str, Any]:
        """The report's ``extra["sandbox"]``: the isolation in force and what could not be enforced."""
        if self.mode == "none":
            network = files = "not isolated (--sandbox none)"
        elif self.namespaces:
            network = "network namespace with loopback only; the mock S3 through the launcher's forwarder"
            files = ("mount namespace: every file system read-only except the run folder; fresh /dev/shm; "
                     "the user's home hidden")
        else:
            network = "guard in the script's interpreter: connections made through Python are refused"
            files = ("guard in the script's interpreter: writes made through Python outside the run are "
                     "refused")
        processes = ("PID namespace: everything ends with the launcher" if self.namespaces
                     else "process group and /proc descendants killed at the end")
        if self.cgroup_root is not None and self.limits.processes:
            processes += f"; at most {self.limits.processes} processes and threads (pids cgroup)"
        return {
            "mode": self.mode,
            "level": "os" if self.namespaces else ("guard" if self.guard else "none"),
            "network": network,
            "files": files,
            "processes": processes,
            "limits": self.limits.describe() if self.mode != "none" else {},
            "not_enforced": list(self.not_enforced),
            "summary": self.summary(),
        }

    def summary(self) -> str:
        """One line for the text report."""
        if self.mode == "none":
            return "sandbox none: the script ran without isolation or limits"
        level = "OS-level (namespaces)" if self.namespaces else "guard only (in the script's interpreter)"
        line = f"sandbox {self.mode}: {level}"
        if self.not_enforced:
            line += "; not enforced here: " + "; ".join(self.not_enforced)
        return line


def plan_sandbox(mode: str = "auto", limits: ResourceLimits | None = None, *,
                 output_mount: str = "/output") -> SandboxPlan:
    """Decide the isolation for ``mode`` on this machine; ``strict`` without namespaces is a UsageError."""
    if mode not in MODES:
        raise UsageError(f"expected --sandbox among {', '.join(MODES)}, got {mode!r}")
    limits = limits or ResourceLimits()
    if mode == "none":
        return SandboxPlan(mode="none", namespaces=False, guard=False, limits=limits, cgroup_root=None,
                           output_mount=output_mount,
                           not_enforced=("network", "files", "processes", "resource limits"))
    caps = capabilities()
    if mode == "strict" and not caps.namespaces:
        raise UsageError(
            f"--sandbox strict needs Linux user, network, mount and PID namespaces, and this machine gives "
            f"none: {caps.namespace_error}; use --sandbox auto to run with the in-interpreter guard instead"
        )
    missing: list[str] = []
    if not caps.namespaces:
        missing.append(f"OS-level isolation ({caps.namespace_error}): network and files are guarded only "
                       "inside the script's Python interpreter (a C extension or a program it starts can "
                       "bypass the guard)")
        missing.append("/output is not mapped (it needs a mount namespace)")
    elif not Path(output_mount).is_dir():
        missing.append(f"{output_mount} is not mapped (no {output_mount} folder on this machine to mount "
                       "over; the kit does not create folders at the root of the file system)")
    if caps.pids_cgroup is None and limits.processes and not caps.namespaces:
        missing.append(f"a hard bound on the number of processes ({caps.cgroup_error}; RLIMIT_NPROC does not "
                       f"bind root): the launcher counts them every {_WATCH_INTERVAL:g} s and ends the run "
                       "past the bound, which a fast fork loop can overshoot")
    elif caps.pids_cgroup is None and limits.processes:
        missing.append(f"a bound on the number of processes ({caps.cgroup_error}; RLIMIT_NPROC does not "
                       "bind root)")
    return SandboxPlan(mode=mode, namespaces=caps.namespaces, guard=True, limits=limits,
                       cgroup_root=caps.pids_cgroup, output_mount=output_mount, not_enforced=tuple(missing))


@dataclass(frozen=True)
class SandboxEvent:
    """Something the sandbox saw and refused: a network connection (RUN003) or a write (RUN007)."""

    kind: str  # "connect", "resolve", "write"
    target: str  # "10.1.2.3:443", "example.com", "/etc/x"
    call: str = ""  # the Python call that tried it, e.g. "socket.connect", "open(w)"
    pid: int | None = None


@dataclass
class SandboxOutcome:
    """What the sandbox learnt about one run once it has ended."""

    events: tuple[SandboxEvent, ...] = ()
    returncode: int | None = None  # the script's own exit status, as the launcher saw it (None: unknown)
    setup: Mapping[str, Any] = field(default_factory=dict)  # what the launcher managed to set up
    killed_leftovers: int = 0  # processes still in the run's cgroup after it ended, killed by the kit
    marker: str = ""  # the value of RUN_MARKER_VAR in the environment of every process of the run
    processes_exceeded: int | None = None  # processes counted when the launcher's bound ended the run

    def details(self) -> dict[str, Any]:
        """What a scenario's details say of the sandbox (JSON-able)."""
        out: dict[str, Any] = {"run_marker": self.marker, "leftovers_killed": self.killed_leftovers}
        if self.processes_exceeded is not None:
            out["processes_exceeded"] = self.processes_exceeded
        failed = setup_problems(self)
        if failed:
            out["setup_failed"] = failed
        if self.events:
            out["refused"] = [f"{e.kind} {e.target}" for e in self.events[:20]]
        return out


def setup_problems(outcome: SandboxOutcome) -> list[str]:
    """The launcher's set-up steps that failed, in words (empty when all went as planned)."""
    return [f"{step}: {result}" for step, result in outcome.setup.items()
            if step != "pid" and result != "ok"]


class SandboxRun:
    """The sandbox of one script run: wraps its command and environment, then collects what happened."""

    def __init__(self, plan: SandboxPlan, run_dir: Path, work: Path, endpoint: str) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.work = work
        self.endpoint = endpoint
        self.marker = uuid.uuid4().hex
        self.cgroup: Path | None = None
        self._cgroup_error: str | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._messages: list[dict[str, Any]] = []
        self._stop = threading.Event()

    # -- before the run ----------------------------------------------------------------------------
    def wrap(self, argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """The command and environment that start ``argv`` inside this sandbox."""
        env = dict(env)
        env[RUN_MARKER_VAR] = self.marker
        if self.plan.mode == "none":
            return list(argv), env
        host, port = _host_port(self.endpoint)
        env["PIE_GUARD_LOG"] = str(self.run_dir / _GUARD_LOG)
        env["PIE_GUARD_ROOT"] = str(self.run_dir.resolve())
        env["PIE_GUARD_ALLOW"] = f"{host}:{port}" if port else ""
        env["PIE_GUARD_NEXT"] = str(_PROBE_FILE)
        if self.plan.namespaces and Path(self.plan.output_mount).is_dir():
            env["PIE_GUARD_EXTRA_ROOT"] = self.plan.output_mount
        # The guard's folder comes first: Python imports the first sitecustomize it finds, and the guard
        # then loads the kit's probe itself.
        env["PYTHONPATH"] = os.pathsep.join([str(_GUARD_DIR), *filter(None, [env.get("PYTHONPATH")])])
        self.cgroup = self._make_cgroup()
        config = {
            "control": str(self._listen()),
            "namespaces": self.plan.namespaces,
            "port": port,
            "run_dir": str(self.run_dir.resolve()),
            "cgroup": str(self.cgroup) if self.cgroup else None,
            "memory": self.plan.limits.memory_bytes,
            "file_size": self.plan.limits.file_bytes,
            "open_files": self.plan.limits.open_files,
            "processes": self.plan.limits.processes,
            "output_mount": self.plan.output_mount,
            "output_dir": str((self.work / "output").resolve()),
            "hide": _homes_to_hide(self.run_dir, argv[0] if argv else ""),
        }
        launcher = [sys.executable, "-I", "-S", str(_LAUNCHER), json.dumps(config), "--", *argv]
        if self.plan.namespaces:
            unshare = shutil.which("unshare") or "unshare"
            return [unshare, *_UNSHARE_FLAGS, *launcher], env
        return launcher, env

    def _make_cgroup(self) -> Path | None:
        root, limit = self.plan.cgroup_root, self.plan.limits.processes
        if root is None or not limit:
            return None
        cg = root / f"pie-check-{self.marker}"
        try:
            cg.mkdir()
            (cg / "pids.max").write_text(f"{int(limit)}\n")
        except OSError as exc:
            self._cgroup_error = f"could not make {cg}: {exc.strerror or exc}"
            with contextlib.suppress(OSError):
                cg.rmdir()
            return None
        return cg

    def _listen(self) -> Path:
        """The UNIX socket the launcher reports to (a path: it reaches across network namespaces)."""
        path = self.run_dir / _CONTROL_SOCKET
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.listen(1)
        s.settimeout(0.2)
        self._listener = s
        self._thread = threading.Thread(target=self._serve, name="pie-check-sandbox", daemon=True)
        self._thread.start()
        return path

    def _serve(self) -> None:
        """Answer the launcher: note its reports, open a connection to the mock S3 for each it asks."""
        assert self._listener is not None
        conn = None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
                break
            except TimeoutError:
                continue
            except OSError:
                return
        # Only the launcher's connection is served: a script that finds the socket gets nothing.
        with contextlib.suppress(OSError):
            self._listener.close()
            (self.run_dir / _CONTROL_SOCKET).unlink()
        if conn is None:
            return
        host, port = _host_port(self.endpoint)
        buf = b""
        with conn:
            conn.settimeout(None)
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(msg, dict):
                        continue
                    if msg.get("op") == "connect":
                        self._upstream(conn, host, port)
                    else:
                        self._messages.append(msg)

    @staticmethod
    def _upstream(conn: socket.socket, host: str, port: int) -> None:
        """A TCP connection to the mock S3 made here (outside the namespace), handed over as a descriptor."""
        up = None
        try:
            up = socket.create_connection((host, port), timeout=10)
            up.settimeout(None)
            socket.send_fds(conn, [b"F"], [up.fileno()])
        except OSError:
            with contextlib.suppress(OSError):
                conn.sendall(b"E")
        finally:
            if up is not None:
                up.close()

    # -- after the run -----------------------------------------------------------------------------
    def finish(self) -> SandboxOutcome:
        """Kill what is left of the run, remove its cgroup, and collect the events and the exit status."""
        killed = self._empty_cgroup()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        with contextlib.suppress(OSError):
            (self.run_dir / _CONTROL_SOCKET).unlink()
        out = SandboxOutcome(events=tuple(self._read_events()), killed_leftovers=killed, marker=self.marker)
        for msg in self._messages:
            if msg.get("op") == "setup":
                out.setup = {k: v for k, v in msg.items() if k != "op"}
            elif msg.get("op") == "limit" and isinstance(msg.get("processes"), int):
                out.processes_exceeded = msg["processes"]
            elif msg.get("op") == "exit" and isinstance(msg.get("returncode"), int):
                out.returncode = msg["returncode"]
        if self._cgroup_error:  # the plan promised a bound on processes that this run did not get
            out.setup = dict(out.setup, cgroup=self._cgroup_error)
        return out

    def _empty_cgroup(self) -> int:
        """SIGKILL every process still in the run's cgroup, then remove it; the number killed."""
        cg = self.cgroup
        if cg is None:
            return 0
        killed: set[int] = set()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                pids = []
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.02)
        while time.monotonic() < deadline:
            try:
                cg.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # processes killed a moment ago are still being reaped
                time.sleep(0.02)
        return len(killed)

    def _read_events(self) -> list[SandboxEvent]:
        """The guard's records, at most a few hundred distinct ones (a script may try in a loop)."""
        path = self.run_dir / _GUARD_LOG
        try:
            with open(path, "rb") as f:
                data = f.read(4 * 1024 * 1024)
        except OSError:
            return []
        seen: dict[tuple[str, str], SandboxEvent] = {}
        for raw in data.splitlines():
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(d, dict) or not isinstance(d.get("target"), str):
                continue
            ev = SandboxEvent(kind=str(d.get("kind", "")), target=d["target"], call=str(d.get("call", "")),
                              pid=d.get("pid") if isinstance(d.get("pid"), int) else None)
            seen.setdefault((ev.kind, ev.target), ev)
            if len(seen) >= 200:
                break
        return list(seen.values())


def _host_port(endpoint: str) -> tuple[str, int]:
    """("127.0.0.1", 5000) from "http://127.0.0.1:5000" (("", 0) when there is no endpoint)."""
    rest = endpoint.split("://", 1)[-1].split("/", 1)[0]
    if ":" not in rest:
        return rest, 0
    host, _, port = rest.rpartition(":")
    try:
        return host, int(port)
    except ValueError:
        return host, 0


def _homes_to_hide(run_dir: Path, python: str) -> list[str]:
    """The kit user's home folders, hidden from the script in the mount namespace.

    A home that holds something the run needs (the run folder, the interpreters, the kit itself) stays
    visible: hiding it would break the run, so it is left as it is.
    """
    python_path = shutil.which(python) or python
    needed = [str(run_dir.resolve()), os.path.realpath(sys.executable), sys.prefix, sys.base_prefix,
              str(Path(__file__).resolve().parent), os.path.realpath(python_path) if python_path else ""]
    found: list[str] = []
    for home in {os.environ.get("HOME", ""), os.path.expanduser("~")}:
        if not home or not os.path.isdir(home):
            continue
        real = os.path.realpath(home).rstrip("/")
        if not real:
            continue
        inside = [os.path.realpath(n) for n in needed if n]
        if any(n == real or n.startswith(real + "/") for n in inside):
            continue
        found.append(real)
    return sorted(set(found))
