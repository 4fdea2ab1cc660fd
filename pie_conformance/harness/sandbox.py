"""The sandbox of a script run: isolation levels, resource limits, and what this machine can enforce.

Three levels (``pie-check run --sandbox``; docs/sandbox.md says what each enforces and what it does not):

- ``strict``: the OS level or nothing. The script runs under **bubblewrap** (``bwrap``): new user, PID,
  network, mount, IPC and UTS namespaces, an unprivileged uid with no capability and ``no_new_privs``, a
  seccomp filter (:mod:`pie_conformance.harness._seccomp`), a root of its own that holds read-only binds of
  what the interpreters need and nothing of the kit user's home, fresh ``/dev`` and ``/proc``, and only the
  run's folders writable (``output/`` also at ``/output``). Only the mock S3 is reachable: the launcher
  (:mod:`pie_conformance.harness._guard._launch`, PID 1 of the sandbox) listens on the mock's port on the
  namespace's loopback and hands the listening socket to the kit, which forwards each connection from
  outside. A machine without a working bubblewrap makes ``strict`` a usage/environment error (exit 2).
- ``auto`` (the default): the same where bubblewrap works, otherwise the guard in the script's interpreter
  (``_guard/sitecustomize.py``), which is **not** a security boundary (it catches mistakes, not attackers),
  and the report says which.
- ``none``: no isolation and no limits; only ``/output`` is mapped in the script's interpreter.

At the OS level what the report states comes from what the script cannot reach: the exit status from
bubblewrap's ``--json-status-fd`` and the kit's own wait (the launcher's report, on a socket only it holds,
only says which signal), RUN003 and RUN007 from the kit's own watch on the script's system calls
(:class:`~pie_conformance.harness._seccomp.CallWatch`); the guard is not installed there. At the guard level
the guard's log is all there is, and the script can write it: that level is not a security boundary.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # pie_conformance/: the guard, the probe, aiUtils
#: The environment variable every process of a run carries (a random token): how leftovers are found.
RUN_MARKER_VAR = "PIE_CHECK_RUN"
#: Where a pids cgroup (v1 hierarchy) may be made for each run.
_PIDS_V1 = Path("/sys/fs/cgroup/pids")
_GUARD_LOG = "sandbox-guard.log"
_PRIVATE = ".sandbox"  # the kit's own files of a run (status, filter, control socket); never bound inside
_GIB = 1024**3
_WATCH_INTERVAL = 0.25  # the guard launcher's WATCH_INTERVAL (it cannot import the kit)
#: The uid and gid the script has inside the sandbox's user namespace.
SANDBOX_UID = 65534
#: The path of the control socket inside the sandbox (the launcher connects to it once).
_CONTROL_INSIDE = "/run/pie-check/control.sock"
_MAX_CONNECTIONS = 128  # connections to the mock forwarded at once
_MAX_EVENTS = 200

#: The parts of the system an interpreter needs, bound read-only (a link is re-created as a link).
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: The files of /etc the interpreters and their libraries read; nothing else of /etc is there.
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
        "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf",
        "/etc/gai.conf", "/etc/protocols", "/etc/services", "/etc/mime.types", "/etc/os-release",
        "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates", "/etc/pki/tls/certs",
        "/etc/alternatives", "/etc/fonts", "/etc/matplotlibrc")
#: Read-only views of /sys that CPU libraries read (no device is reachable through them: /dev has none).
_SYS = ("/sys/devices/system/cpu", "/sys/devices/system/node")
#: What a GPU run adds: the NVIDIA device nodes and the parts of /sys and /proc its driver reads.
_GPU_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/nvidia-uvm*")
_GPU_SYS = ("/sys/bus/pci", "/sys/devices", "/sys/module/nvidia", "/sys/module/nvidia_uvm")

# The wrapper that opens bubblewrap's status file and filter on the descriptors it is told, joins the run's
# cgroup, then becomes bubblewrap. $1 status file, $2 filter ("" none), $3 cgroup.procs ("" none).
_SH = ('exec 3>"$1" || exit 125; if [ -n "$2" ]; then exec 4<"$2" || exit 125; fi; '
       'if [ -n "$3" ]; then { echo $$ > "$3"; } 2>/dev/null || : > "$1.cgroup-failed"; fi; '
       'shift 3; exec "$@"')


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
    processes: int | None = 1024  # processes and threads at once (RLIMIT_NPROC in the sandbox, or a cgroup)

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


# -- what this machine allows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Capabilities:
    """What this machine lets the kit do, found out once per process."""

    bubblewrap: bool  # bwrap starts a sandbox with every namespace, the uid and the filter the OS level uses
    bubblewrap_error: str | None
    pids_cgroup: Path | None  # a writable pids cgroup hierarchy to make run cgroups in
    cgroup_error: str | None
    bwrap: str | None = None  # the program
    seccomp: str | None = None  # the architecture the filters are built for (None: no filter here)


_CAPS: Capabilities | None = None
_CAPS_LOCK = threading.Lock()


def _bwrap_base(uid: int = SANDBOX_UID, *, seccomp: bool = False) -> list[str]:
    """bubblewrap's options every sandbox of the kit has (namespaces, uid, no capability, lifetime).

    Without a seccomp filter (which refuses ``unshare`` and ``clone`` with a namespace flag) further user
    namespaces are disabled by bubblewrap itself (a nested namespace: some milliseconds more).
    """
    nested = [] if seccomp else ["--disable-userns"]
    return ["--unshare-all", "--unshare-user", *nested, "--die-with-parent", "--as-pid-1",
            "--cap-drop", "ALL", "--uid", str(uid), "--gid", str(uid)]


def _probe_bwrap(exe: str, arch: str | None) -> str | None:
    """None when ``exe`` starts a sandbox as the OS level makes them (filter included), else why not."""
    private = Path(tempfile_dir()) / f"pie-check-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        private.mkdir(mode=0o700)
        status = private / "status"
        bpf = ""
        if arch is not None:
            from pie_conformance.harness import _seccomp

            native = _seccomp.native_arch()
            assert native is not None
            (private / "filter").write_bytes(_seccomp.deny_program(native))
            bpf = str(private / "filter")
        argv = ["/bin/sh", "-c", _SH, "pie-check-probe", str(status), bpf, "", exe,
                *_bwrap_base(seccomp=bool(bpf)),
                "--json-status-fd", "3", *(["--seccomp", "4"] if bpf else []),
                "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "/bin/sh", "-c", "exit 0"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not run: {exc}"
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
            return f"bwrap refused: {why[-1] if why else f'exit status {done.returncode}'}"
        return None
    except OSError as exc:
        return f"cannot test bwrap: {exc.strerror or exc}"
    finally:
        shutil.rmtree(private, ignore_errors=True)


def tempfile_dir() -> str:
    """The folder temporary files go to (the kit's own, resolved once)."""
    import tempfile

    return tempfile.gettempdir()


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


def capabilities(refresh: bool = False) -> Capabilities:
    """What this machine allows (probed once: one short bubblewrap start and a cgroup check)."""
    global _CAPS
    with _CAPS_LOCK:
        if _CAPS is None or refresh:
            from pie_conformance.harness import _seccomp

            linux = sys.platform.startswith("linux")
            exe = shutil.which("bwrap") if linux else None
            arch = _seccomp.native_arch() if linux else None
            if not linux:
                error: str | None = f"not Linux ({sys.platform})"
            elif exe is None:
                error = "no bwrap program on PATH (the Debian package bubblewrap)"
            else:
                error = _probe_bwrap(exe, arch.name if arch else None)
            cg, cg_error = _probe_cgroup() if linux else (None, "not Linux")
            _CAPS = Capabilities(bubblewrap=error is None, bubblewrap_error=error, pids_cgroup=cg,
                                 cgroup_error=cg_error, bwrap=exe if error is None else None,
                                 seccomp=arch.name if arch is not None else None)
        return _CAPS


# -- the plan ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SandboxPlan:
    """The isolation one check applies to every run, decided once from the mode and the machine."""

    mode: str
    os_level: bool  # bubblewrap in force
    guard: bool  # the in-interpreter guard in force (the guard level; at the OS level it only records)
    limits: ResourceLimits
    cgroup_root: Path | None  # where per-run pids cgroups are made (None: none)
    output_mount: str = "/output"  # the guide's absolute output folder, mapped onto the run's output/
    not_enforced: tuple[str, ...] = ()  # what this machine could not enforce, in words
    bwrap: str | None = None  # the bubblewrap program (OS level)
    seccomp: str | None = None  # the architecture of the seccomp filters (None: no filter)

    @property
    def namespaces(self) -> bool:
        """The OS level is in force (the name earlier versions of the plan used)."""
        return self.os_level

    @property
    def level(self) -> str:
        """``os``, ``guard`` or ``none``."""
        return "os" if self.os_level else ("guard" if self.guard else "none")

    def describe(self) -> dict[str, Any]:
        """The report's ``extra["sandbox"]``: the isolation in force and what could not be enforced."""
        if self.mode == "none":
            network = files = processes = "not isolated (--sandbox none)"
        elif self.os_level:
            network = ("bubblewrap: a network namespace with loopback only; the mock S3 forwarded by the "
                       "kit; every connect and write watched from outside")
            files = ("bubblewrap: a root of its own with read-only binds of the interpreters; the run's "
                     "folders the only writable ones (output/ also at /output); fresh /dev, /proc, /dev/shm; "
                     "nothing of the kit user's home")
            processes = (f"bubblewrap: PID namespace ended with its PID 1; uid {SANDBOX_UID} without "
                         "capabilities, no_new_privs"
                         + (f", seccomp filter ({self.seccomp})" if self.seccomp else ", no seccomp filter"))
        else:
            network = ("guard in the script's interpreter (not a security boundary): connections made "
                       "through Python are refused")
            files = ("guard in the script's interpreter (not a security boundary): writes made through "
                     "Python outside the run are refused; /output mapped")
            processes = "a launcher kills the script's descendants at the end"
        if self.cgroup_root is not None and self.limits.processes and self.mode != "none":
            processes += f"; at most {self.limits.processes} processes and threads (pids cgroup)"
        return {
            "mode": self.mode,
            "level": self.level,
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
            return "sandbox none: the script ran without isolation or limits (only /output is mapped)"
        level = ("OS-level (bubblewrap)" if self.os_level
                 else "guard only (in the script's interpreter; not a security boundary)")
        line = f"sandbox {self.mode}: {level}"
        if self.not_enforced:
            line += "; not enforced here: " + "; ".join(self.not_enforced)
        return line


def plan_sandbox(mode: str = "auto", limits: ResourceLimits | None = None, *,
                 output_mount: str = "/output") -> SandboxPlan:
    """Decide the isolation for ``mode`` on this machine; ``strict`` without bubblewrap is a UsageError."""
    if mode not in MODES:
        raise UsageError(f"expected --sandbox among {', '.join(MODES)}, got {mode!r}")
    limits = limits or ResourceLimits()
    if mode == "none":
        return SandboxPlan(mode="none", os_level=False, guard=False, limits=limits, cgroup_root=None,
                           output_mount=output_mount,
                           not_enforced=("network", "files", "processes", "resource limits"))
    caps = capabilities()
    if mode == "strict" and not caps.bubblewrap:
        raise UsageError(
            f"--sandbox strict needs bubblewrap (bwrap) able to make user, PID, network and mount "
            f"namespaces, and this machine has none: {caps.bubblewrap_error}; install the Debian package "
            "bubblewrap, or use --sandbox auto to run with the in-interpreter guard instead (not a security "
            "boundary)"
        )
    missing: list[str] = []
    if caps.bubblewrap:
        if caps.seccomp is None:
            missing.append("a seccomp filter (the call numbers of this architecture are not known here)")
    else:
        missing.append(f"OS-level isolation ({caps.bubblewrap_error}): the guard in the script's interpreter "
                       "is not a security boundary (a C extension or a program the script starts bypasses "
                       "it)")
        if caps.pids_cgroup is None and limits.processes:
            missing.append(f"a hard bound on the number of processes ({caps.cgroup_error}; RLIMIT_NPROC does "
                           f"not bind root): the launcher counts them every {_WATCH_INTERVAL:g} s and ends "
                           "the run past the bound, which a fast fork loop can overshoot")
    return SandboxPlan(mode=mode, os_level=caps.bubblewrap, guard=True, limits=limits,
                       cgroup_root=caps.pids_cgroup, output_mount=output_mount, not_enforced=tuple(missing),
                       bwrap=caps.bwrap, seccomp=caps.seccomp if caps.bubblewrap else None)


# -- what a run saw ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SandboxEvent:
    """Something the sandbox saw: a network connection (RUN003) or a write outside the run (RUN007)."""

    kind: str  # "connect", "resolve", "write"
    target: str  # "10.1.2.3:443", "example.com", "/etc/x"
    call: str = ""  # the call that tried it, e.g. "connect", "socket.connect", "open(w)"
    pid: int | None = None


@dataclass
class SandboxOutcome:
    """What the sandbox learnt about one run once it has ended."""

    events: tuple[SandboxEvent, ...] = ()
    returncode: int | None = None  # the script's own exit status, as the sandbox saw it (None: unknown)
    setup: Mapping[str, Any] = field(default_factory=dict)  # what the launcher managed to set up
    killed_leftovers: int = 0  # processes of the run still alive after it ended, killed by the kit
    marker: str = ""  # the value of RUN_MARKER_VAR in the environment of every process of the run
    processes_exceeded: int | None = None  # processes counted when the launcher's bound ended the run
    level: str = "none"  # "os", "guard" or "none"
    snapshot_notes: tuple[str, ...] = ()  # what the snapshots refused or left out (planted links, budget)
    forwarded: int = 0  # connections to the mock S3 the kit forwarded (OS level)

    def details(self) -> dict[str, Any]:
        """What a scenario's details say of the sandbox (JSON-able)."""
        out: dict[str, Any] = {"level": self.level, "run_marker": self.marker,
                               "leftovers_killed": self.killed_leftovers}
        if self.level == "os":
            out["connections_forwarded"] = self.forwarded
        if self.processes_exceeded is not None:
            out["processes_exceeded"] = self.processes_exceeded
        failed = setup_problems(self)
        if failed:
            out["setup_failed"] = failed
        if self.events:
            out["refused"] = [f"{e.kind} {e.target}" for e in self.events[:20]]
        if self.snapshot_notes:
            out["snapshots"] = list(self.snapshot_notes)
        return out


def setup_problems(outcome: SandboxOutcome) -> list[str]:
    """The launcher's set-up steps that failed, in words (empty when all went as planned)."""
    return [f"{step}: {result}" for step, result in outcome.setup.items()
            if step != "pid" and result != "ok"]


# -- one run -------------------------------------------------------------------------------------------------
class SandboxRun:
    """The sandbox of one script run: wraps its command and environment, then collects what happened."""

    def __init__(self, plan: SandboxPlan, run_dir: Path, work: Path, endpoint: str) -> None:
        self.plan = plan
        self.run_dir = Path(os.path.abspath(run_dir))
        self.work = Path(os.path.abspath(work))
        self.endpoint = endpoint
        self.marker = uuid.uuid4().hex
        self.cgroup: Path | None = None
        self._cgroup_error: str | None = None
        self._private = self.run_dir / _PRIVATE
        self._setup: dict[str, Any] = {}
        self._events: dict[tuple[str, str], SandboxEvent] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._control: socket.socket | None = None
        self._control_thread: threading.Thread | None = None
        self._exit_status: int | None = None
        self._launcher_reported = False
        self._forward: _Forwarder | None = None
        self._watch: Any = None
        self._writable: tuple[str, ...] = ()
        self._wrapped = False

    # -- before the run ----------------------------------------------------------------------------
    def wrap(self, argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """The command and environment that start ``argv`` inside this sandbox."""
        env = dict(env)
        env[RUN_MARKER_VAR] = self.marker
        self._wrapped = True
        with contextlib.suppress(OSError):
            (self.work / "output").mkdir(exist_ok=True)  # also the source of /output
        if not self.plan.os_level:
            # The guard's folder comes first: Python imports the first sitecustomize it finds, and the guard
            # then loads the kit's probe itself. (The OS level needs no guard: the kernel refuses, the kit
            # watches.)
            env["PYTHONPATH"] = os.pathsep.join([str(_GUARD_DIR), *filter(None, [env.get("PYTHONPATH")])])
            env["PIE_GUARD_NEXT"] = str(_PROBE_FILE)
        if self.plan.mode == "none":
            env["PIE_GUARD_MODE"] = "redirect"
            env["PIE_GUARD_OUTPUT"] = str(self.work / "output")
            return list(argv), env
        self._private.mkdir(mode=0o700, exist_ok=True)
        self.cgroup = self._make_cgroup()
        if self.plan.os_level:
            return self._wrap_os(list(argv), env)
        return self._wrap_guard(list(argv), env)

    def _writable_paths(self, env: Mapping[str, str], *,
                        guard_log: bool = True) -> tuple[list[Path], list[Path]]:
        """The folders a run may write (the working folder, its HOME and TMPDIR) and the files its probe
        (and guard) write: the same at the guard and the OS level."""
        probe, log = env.get("PIE_CHECK_PROBE"), str(self.run_dir / _GUARD_LOG) if guard_log else None
        files = [Path(p) for p in (probe, log) if p]
        folders = [self.work, *(Path(env[k]) for k in ("HOME", "TMPDIR") if env.get(k))]
        return [w for w in folders if w.is_dir()], files

    def _wrap_guard(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        host, port = _host_port(self.endpoint)
        folders, files = self._writable_paths(env)
        env.update(PIE_GUARD_MODE="guard", PIE_GUARD_LOG=str(self.run_dir / _GUARD_LOG),
                   PIE_GUARD_ROOT=os.pathsep.join(str(p) for p in (*folders, *files)),
                   PIE_GUARD_ALLOW=f"{host}:{port}" if port else "",
                   PIE_GUARD_OUTPUT=str(self.work / "output"))
        limits = self.plan.limits
        config = {"mode": "guard", "cgroup": str(self.cgroup) if self.cgroup else None,
                  "memory": limits.memory_bytes, "file_size": limits.file_bytes,
                  "open_files": limits.open_files, "processes": limits.processes,
                  "setup_file": str(self._private / "setup.json")}
        return [sys.executable, "-I", "-S", str(_LAUNCHER), json.dumps(config), "--", *argv], env

    def _wrap_os(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        from pie_conformance.harness import _seccomp

        plan, limits = self.plan, self.plan.limits
        _host, port = _host_port(self.endpoint)
        arch = _seccomp.native_arch() if plan.seccomp else None
        status = self._private / "status.json"
        bpf = ""
        if arch is not None:
            (self._private / "filter.bpf").write_bytes(_seccomp.deny_program(arch))
            bpf = str(self._private / "filter.bpf")
        # The file the script's probe writes is bound by itself (the run folder itself is not there).
        writable, files = self._writable_paths(env, guard_log=False)
        for f in files:
            with contextlib.suppress(OSError):
                f.touch(exist_ok=True)
        self._writable = (*(str(w) for w in writable), plan.output_mount, "/dev/shm",
                          *(str(f) for f in files))
        control = self._listen_control()
        config = {"mode": "os", "control": _CONTROL_INSIDE, "port": port,
                  "memory": limits.memory_bytes, "file_size": limits.file_bytes,
                  "open_files": limits.open_files, "nproc": limits.processes}
        if arch is not None:
            config.update(notify_bpf=_seccomp.notify_program(arch).hex(),
                          seccomp_nr={"x86_64": 317, "aarch64": 277}[arch.name])
        python = (shutil.which(argv[0]) or argv[0]) if argv else sys.executable
        binds = _mount_plan(self, [python, sys.executable], writable, files, control, env)
        bwrap = [plan.bwrap or "bwrap", *_bwrap_base(seccomp=bool(bpf)), "--json-status-fd", "3",
                 *(["--seccomp", "4"] if bpf else []), *binds, "--chdir", str(self.work), "--"]
        launcher = [sys.executable, "-I", "-S", str(_LAUNCHER), json.dumps(config), "--", *argv]
        procs = str(self.cgroup / "cgroup.procs") if self.cgroup else ""
        return ["/bin/sh", "-c", _SH, "pie-check-sandbox", str(status), bpf, procs, *bwrap, *launcher], env

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

    # -- the control socket (OS level) --------------------------------------------------------------
    def _listen_control(self) -> Path:
        """The UNIX socket the launcher connects to once; bound into the sandbox, the only way in."""
        # In a short private folder of its own: a socket path is limited to 107 bytes, and a run folder
        # under a deep --keep or test folder is longer than that.
        self._control_dir = Path(tempfile.mkdtemp(prefix="pie-ctl-"))
        path = self._control_dir / "control.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.listen(1)
        s.settimeout(0.2)
        self._control = s
        self._control_thread = threading.Thread(target=self._serve_control, name="pie-check-control",
                                                daemon=True)
        self._control_thread.start()
        return path

    def _serve_control(self) -> None:
        assert self._control is not None
        conn = None
        while not self._stop.is_set():
            try:
                conn, _ = self._control.accept()
                break
            except TimeoutError:
                continue
            except OSError:
                return
        # One connection, the launcher's, made before the script exists: then nobody else can connect.
        with contextlib.suppress(OSError):
            self._control.close()
            (self._control_dir / "control.sock").unlink()
            self._control_dir.rmdir()
        if conn is None:
            return
        with conn:
            conn.settimeout(None)
            try:
                msg, fds, _flags, _addr = socket.recv_fds(conn, 65536, 2)
            except OSError:
                return
            self._take_setup(msg, fds)
            with contextlib.suppress(OSError):
                conn.sendall(b"k")  # the script may start: its connections are handled from now on
            buf = b""
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf = (buf + data)[-65536:]
                for line in buf.split(b"\n")[:-1]:
                    with contextlib.suppress(ValueError):
                        rep = json.loads(line)
                        if isinstance(rep, dict) and rep.get("op") == "exit" and isinstance(rep.get("status"),
                                                                                            int):
                            self._exit_status = rep["status"]
                buf = buf.rsplit(b"\n", 1)[-1]

    def _take_setup(self, msg: bytes, fds: list[int]) -> None:
        from pie_conformance.harness import _seccomp

        try:
            setup = json.loads(msg.split(b"\n", 1)[0])
        except ValueError:
            setup = {}
        if not isinstance(setup, dict):
            setup = {}
        self._launcher_reported = True
        fds = list(fds)
        listener = fds.pop(0) if setup.get("listener") and fds else None
        notify = fds.pop(0) if setup.get("notify") and fds else None
        for fd in fds:
            os.close(fd)
        host, port = _host_port(self.endpoint)
        if listener is not None:
            self._forward = _Forwarder(socket.socket(fileno=listener), host, port)
        arch = _seccomp.native_arch()
        if notify is not None and arch is not None:
            self._watch = _seccomp.CallWatch(notify, arch, [f"127.0.0.1:{port}"] if port else [],
                                             list(self._writable), self._record)
        elif notify is not None:
            os.close(notify)
        self._setup = {k: v for k, v in setup.items() if k not in ("op", "listener", "notify")}

    def _record(self, kind: str, target: str, call: str) -> None:
        with self._lock:
            if len(self._events) < _MAX_EVENTS:
                self._events.setdefault((kind, target), SandboxEvent(kind, target, call))

    # -- after the run -----------------------------------------------------------------------------
    def finish(self) -> SandboxOutcome:
        """Kill what is left of the run, remove its cgroup, and collect the events and the exit status."""
        from pie_conformance.harness.snapshot import pop_notes

        killed = self._empty_cgroup()
        if not self.plan.os_level:  # at the OS level the PID namespace has ended with its PID 1
            killed += _kill_marked(self.marker)
        self._stop.set()
        if self._control_thread is not None:
            self._control_thread.join(timeout=2.0)
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.close()
        if self._watch is not None:
            self._watch.close()
        forwarded = 0
        if self._forward is not None:
            forwarded = self._forward.close()
        out = SandboxOutcome(killed_leftovers=killed, marker=self.marker, level=self.plan.level,
                             forwarded=forwarded, snapshot_notes=tuple(pop_notes(self.work)))
        setup: dict[str, Any] = dict(self._setup)
        if self.plan.os_level and self._wrapped:
            out.returncode = self._os_returncode(setup)
        elif self.plan.guard and self._wrapped:
            setup.update(self._guard_setup(out))
        if self._cgroup_error:  # the plan promised a bound on processes that this run did not get
            setup["cgroup"] = self._cgroup_error
        elif self.cgroup is not None and (self._private / "status.json.cgroup-failed").exists():
            setup["cgroup"] = f"could not join {self.cgroup}"
        out.setup = setup
        out.events = tuple(self._collect_events())
        return out

    def _os_returncode(self, setup: dict[str, Any]) -> int | None:
        """The script's status: bubblewrap's exit code, made exact by the launcher's report of the signal."""
        code: int | None = None
        try:
            with open(self._private / "status.json", "rb") as f:
                data = f.read(65536)
        except OSError:
            data = b""
        for raw in data.splitlines():
            with contextlib.suppress(ValueError):
                d = json.loads(raw)
                if isinstance(d, dict) and isinstance(d.get("exit-code"), int):
                    code = d["exit-code"]
        if not self._launcher_reported:
            setup["launcher"] = "the sandbox's launcher never reported (it could not start or connect)"
        if code is None:
            return None  # bubblewrap itself was killed (the time limit): the kit's own wait says so
        if self._exit_status is not None:
            rc = os.waitstatus_to_exitcode(self._exit_status)
            if (rc if rc >= 0 else 128 - rc) == code:
                return rc
        return code

    def _guard_setup(self, out: SandboxOutcome) -> dict[str, Any]:
        try:
            with open(self._private / "setup.json", "rb") as f:
                setup = json.loads(f.read(65536))
        except (OSError, ValueError):
            return {}
        if not isinstance(setup, dict):
            return {}
        exceeded = setup.pop("processes_exceeded", None)
        if isinstance(exceeded, int):
            out.processes_exceeded = exceeded
        return {str(k): str(v) for k, v in setup.items()}

    def _collect_events(self) -> list[SandboxEvent]:
        """The kit's own records (OS level), or the guard's log (guard level: the script can write it)."""
        with self._lock:
            events = dict(self._events)
        if self.plan.mode != "none" and not self.plan.os_level:
            for ev in _read_guard_log(self.run_dir / _GUARD_LOG):
                events.setdefault((ev.kind, ev.target), ev)
                if len(events) >= _MAX_EVENTS:
                    break
        return list(events.values())

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


def _kill_marked(marker: str) -> int:
    """SIGKILL every live process whose environment carries the run's marker (what escaped the group)."""
    needle = f"{RUN_MARKER_VAR}={marker}".encode()
    me = os.getpid()
    killed = 0
    for _ in range(3):  # a process may fork while the others are being killed
        found = []
        try:
            names = os.listdir("/proc")
        except OSError:
            return killed
        for name in names:
            if not name.isdigit() or int(name) == me:
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    env = f.read(1 << 20)
            except OSError:
                continue
            if needle in env.split(b"\0"):
                found.append(int(name))
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.01)
    return killed


def _read_guard_log(path: Path) -> list[SandboxEvent]:
    """The guard's records, at most a few hundred distinct ones (a script may try in a loop)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        data = os.read(fd, 4 * 1024 * 1024)
    except OSError:
        return []
    finally:
        os.close(fd)
    seen: dict[tuple[str, str], SandboxEvent] = {}
    for raw in data.splitlines():
        try:
            d = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(d, dict) or not isinstance(d.get("target"), str):
            continue
        ev = SandboxEvent(kind=str(d.get("kind", ""))[:20], target=d["target"][:4096],
                          call=str(d.get("call", ""))[:80],
                          pid=d.get("pid") if isinstance(d.get("pid"), int) else None)
        seen.setdefault((ev.kind, ev.target), ev)
        if len(seen) >= _MAX_EVENTS:
            break
    return list(seen.values())


# -- the mount plan (OS level) -------------------------------------------------------------------------------
_INTERPRETERS: dict[str, tuple[str, ...]] = {}
_QUERY = ("import json, os, sys; print(json.dumps([sys.executable, os.path.realpath(sys.executable), "
          "sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]))")


def interpreter_paths(python: str) -> tuple[str, ...]:
    """The folders an interpreter needs (its prefixes and ``sys.path``), asked once per interpreter."""
    exe = os.path.abspath(shutil.which(python) or python)
    if exe in _INTERPRETERS:
        return _INTERPRETERS[exe]
    found = [exe, os.path.realpath(exe)]
    try:
        done = subprocess.run([exe, "-E", "-s", "-c", _QUERY], capture_output=True, timeout=60, check=False,
                              env={"PATH": os.environ.get("PATH", os.defpath), "HOME": "/nonexistent"})
        listed = json.loads(done.stdout) if done.returncode == 0 else []
        found += [str(p) for p in listed if isinstance(p, str)]
    except (OSError, subprocess.TimeoutExpired, ValueError):
        pass
    paths: list[str] = []
    for p in found:
        if not p or not os.path.isabs(p):
            continue
        for q in (os.path.abspath(p), os.path.realpath(p)):
            # A file's folder (the interpreter's bin/); sys.path's zip files that do not exist are dropped.
            q = q if os.path.isdir(q) else os.path.dirname(q)
            if os.path.isdir(q):
                paths.append(q)
    _INTERPRETERS[exe] = tuple(dict.fromkeys(paths))
    return _INTERPRETERS[exe]


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _system_binds(pythons: Sequence[str], *, gpu: bool, shm_bytes: int) -> tuple[list[str], list[str]]:
    """bubblewrap's options for what every sandbox of the kit sees: the system's programs and libraries, a
    few files of /etc, the interpreters, the kit's package, fresh /proc, /dev and /dev/shm, and empty
    file systems over /tmp, /var/tmp, /run and the kit user's home. Also the folders made read-only last."""
    args: list[str] = []
    system: list[str] = []
    for p in _SYSTEM:
        if os.path.islink(p):
            args += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            args += ["--ro-bind", p, p]
            system.append(os.path.realpath(p))
    etc = _etc_copy()
    if etc is not None:
        args += ["--ro-bind", etc, "/etc"]
    else:
        for p in _ETC:
            args += ["--ro-bind-try", p, p]
    for p in _SYS:
        args += ["--ro-bind-try", p, p]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(shm_bytes), "--tmpfs", "/dev/shm"]
    if gpu:
        for pattern in _GPU_DEVICES:
            for dev in sorted(glob.glob(pattern)):
                args += ["--dev-bind", dev, dev]
        for p in _GPU_SYS:
            args += ["--ro-bind-try", p, p]
    # Empty read-only file systems where programs look for scratch space or the user's files: a write there
    # fails as anywhere outside the run's folders. What is needed below them is bound afterwards.
    homes = sorted({h for h in (os.environ.get("HOME", ""), os.path.expanduser("~")) if h and h != "/"})
    hidden = ["/tmp", "/var/tmp", "/run", *homes]
    for p in hidden:
        args += ["--size", str(1 << 20), "--tmpfs", p]
    bound: list[str] = []
    for python in pythons:
        for p in interpreter_paths(python):
            real = os.path.realpath(p)
            if _under(real, system) or _under(p, bound) or any(_under(h, [p]) for h in homes) or p == "/":
                continue  # already there, or it would show the home folder itself
            bound.append(p)
    bound.append(str(_PACKAGE_DIR))
    kept: list[str] = []
    for p in sorted(set(bound), key=len):
        if not _under(p, kept):  # a folder inside one already bound is there with it
            kept.append(p)
            args += ["--ro-bind", p, p]
    return args, hidden


_ETC_COPY: str | None = None
_ETC_LOCK = threading.Lock()


def _etc_copy() -> str | None:
    """A folder holding the few files of /etc the sandbox shows (links kept as links), made once per process.

    One bind of it costs what one of the two dozen binds of the files themselves would. None when it cannot
    be made (the files are then bound one by one).
    """
    global _ETC_COPY
    with _ETC_LOCK:
        if _ETC_COPY is not None and os.path.isdir(_ETC_COPY):
            return _ETC_COPY
        import atexit
        import tempfile

        try:
            dest = tempfile.mkdtemp(prefix="pie-check-etc-")
            os.chmod(dest, 0o755)
            for src in _ETC:
                if not os.path.lexists(src):
                    continue
                target = os.path.join(dest, os.path.relpath(src, "/etc"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.isdir(src) and not os.path.islink(src):
                    shutil.copytree(src, target, symlinks=True)
                elif os.path.islink(src) and not os.path.realpath(src).startswith(("/usr/", "/etc/")):
                    shutil.copy2(src, target)  # e.g. resolv.conf -> /run/...: its content, /run is not there
                else:
                    shutil.copy2(src, target, follow_symlinks=False)
        except OSError:
            return None
        atexit.register(shutil.rmtree, dest, True)
        _ETC_COPY = dest
        return dest


def _mount_plan(run: SandboxRun, pythons: Sequence[str], writable: Sequence[Path], files: Sequence[Path],
                control: Path, env: Mapping[str, str]) -> list[str]:
    """bubblewrap's mount options for one run, in order (a later mount may sit inside an earlier one)."""
    plan = run.plan
    memory = plan.limits.memory_bytes or 4 * _GIB
    args, hidden = _system_binds(pythons, gpu=bool(env.get("CUDA_VISIBLE_DEVICES")),
                                 shm_bytes=min(4 * _GIB, memory))
    for w in writable:
        args += ["--bind", str(w), str(w)]
    for f in files:
        args += ["--bind", str(f), str(f)]
    args += ["--bind", str(run.work / "output"), plan.output_mount]
    args += ["--bind", str(control), _CONTROL_INSIDE]
    for p in hidden:
        args += ["--remount-ro", p]
    args += ["--remount-ro", "/"]
    return args


@dataclass
class HelperSandbox:
    """How to start one of the kit's own helpers (the weights loader) under bubblewrap."""

    argv: list[str]
    pass_fds: tuple[int, ...]  # give these to the child, then close them here
    status_fd: int  # read end of bubblewrap's status: {"child-pid": N} (the helper's pid) comes first


def sandbox_helper(argv: Sequence[str]) -> HelperSandbox | None:
    """``argv`` (a Python helper of the kit) under bubblewrap: no network, no file of any run (it gets its
    input as descriptors), the kit's interpreter and package read-only, the seccomp filter. None where
    bubblewrap does not work here (the helper then runs bounded by its own rlimits only)."""
    caps = capabilities()
    if not caps.bubblewrap or caps.bwrap is None:
        return None
    from pie_conformance.harness import _seccomp

    args, hidden = _system_binds([argv[0]], gpu=False, shm_bytes=64 << 20)
    for p in hidden:
        args += ["--remount-ro", p]
    args += ["--remount-ro", "/"]
    status_r, status_w = os.pipe()
    fds = [status_w]
    seccomp: list[str] = []
    arch = _seccomp.native_arch()
    if arch is not None:
        filter_r, filter_w = os.pipe()
        os.write(filter_w, _seccomp.deny_program(arch))  # a few hundred bytes: the pipe holds them
        os.close(filter_w)
        fds.append(filter_r)
        seccomp = ["--seccomp", str(filter_r)]
    return HelperSandbox([caps.bwrap, *_bwrap_base(seccomp=bool(seccomp)), "--json-status-fd", str(status_w),
                          *seccomp, *args,
                          "--chdir", "/", "--", *argv], tuple(fds), status_r)


# -- the forwarder to the mock S3 (OS level) -----------------------------------------------------------------
class _Forwarder:
    """Accepts the script's connections on the listening socket the launcher made inside the sandbox's
    network namespace, and forwards each to the mock S3 from here, outside it."""

    def __init__(self, listener: socket.socket, host: str, port: int) -> None:
        self.listener = listener
        self.host, self.port = host, port
        self.count = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="pie-check-forward", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(None)
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed or len(self._open) >= 2 * _MAX_CONNECTIONS:
                    conn.close()
                    continue
            try:
                up = socket.create_connection((self.host, self.port), timeout=10)
                up.settimeout(None)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._open.update((conn, up))
                self.count += 1
            ends = [2]  # pumps still running for this pair: the last one closes both sockets
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pump, args=(a, b, ends), name="pie-check-pump",
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, ends: list[int]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with self._lock:
            ends[0] -= 1
            last = ends[0] == 0
            if last:
                self._open.difference_update((src, dst))
        if last:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> int:
        """Stop forwarding and close every connection; how many were forwarded."""
        with self._lock:
            self._closed = True
            left = list(self._open)
            self._open.clear()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        for s in left:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        self._thread.join(timeout=1.0)
        return self.count


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


__all__ = [
    "MODES", "RUN_MARKER_VAR", "SANDBOX_UID", "Capabilities", "ResourceLimits", "SandboxEvent",
    "SandboxOutcome", "SandboxPlan", "SandboxRun", "HelperSandbox", "capabilities", "default_memory_bytes",
    "interpreter_paths", "limits_from_options", "plan_sandbox", "sandbox_helper", "setup_problems",
]
