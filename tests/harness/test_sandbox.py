"""The sandbox: plans per mode and machine, the seccomp filters, bubblewrap and the guard on small scripts."""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pie_conformance import cli
from pie_conformance.errors import UsageError
from pie_conformance.facts import RunRecord
from pie_conformance.findings import Report
from pie_conformance.harness import _seccomp
from pie_conformance.harness import sandbox as sb
from pie_conformance.harness.sandbox import (
    Capabilities,
    ResourceLimits,
    SandboxEvent,
    SandboxPlan,
    SandboxRun,
    capabilities,
    limits_from_options,
    plan_sandbox,
)
from pie_conformance.reporters.text import write_text

OS_LEVEL = capabilities().bubblewrap
needs_bwrap = pytest.mark.skipif(not OS_LEVEL,
                                 reason=f"bubblewrap cannot run here: {capabilities().bubblewrap_error}")
ARCH = _seccomp.native_arch()


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the kit believe the machine has no working bubblewrap (and no cgroup)."""
    caps = Capabilities(bubblewrap=False, bubblewrap_error="no bwrap program on PATH (the Debian package "
                        "bubblewrap)", pids_cgroup=None, cgroup_error="no pids cgroup hierarchy")
    monkeypatch.setattr(sb, "_CAPS", caps)


def _guard_plan(**kw: Any) -> SandboxPlan:
    kw.setdefault("limits", ResourceLimits())
    kw.setdefault("cgroup_root", None)
    return SandboxPlan(mode="auto", os_level=False, guard=True, **kw)


# -- plans ---------------------------------------------------------------------------------------------
def test_unknown_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="expected --sandbox among auto, strict, none, got 'tight'"):
        plan_sandbox("tight")


def test_none_enforces_nothing_and_says_so() -> None:
    plan = plan_sandbox("none")
    d = plan.describe()
    assert (d["level"], d["limits"]) == ("none", {})
    assert "network" in d["not_enforced"] and "without isolation" in d["summary"]


def test_strict_without_bubblewrap_is_an_environment_error(no_bwrap: None) -> None:
    with pytest.raises(UsageError, match="--sandbox strict needs bubblewrap .* install the Debian package"):
        plan_sandbox("strict")


def test_strict_without_bubblewrap_exits_2_from_the_command_line(no_bwrap: None, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.py").write_text("print('[Process: 1/1]')\n")
    status = cli.main(["run", str(tmp_path), "--task", "segmentation", "--sandbox", "strict"])
    assert status == 2
    assert "--sandbox auto" in capsys.readouterr().err


def test_auto_without_bubblewrap_falls_back_to_the_guard_and_says_it_is_no_boundary(no_bwrap: None) -> None:
    plan = plan_sandbox("auto")
    assert (plan.os_level, plan.guard, plan.cgroup_root) == (False, True, None)
    d = plan.describe()
    assert d["level"] == "guard"
    missing = " | ".join(d["not_enforced"])
    assert "OS-level isolation (no bwrap program on PATH" in missing and "not a security boundary" in missing
    assert "RLIMIT_NPROC does not bind root" in missing
    assert d["summary"].startswith("sandbox auto: guard only (in the script's interpreter; not a security")


@needs_bwrap
def test_auto_here_is_bubblewrap() -> None:
    plan = plan_sandbox("auto")
    assert plan.os_level and plan.describe()["level"] == "os"
    assert plan.summary().startswith("sandbox auto: OS-level (bubblewrap)")
    assert plan_sandbox("strict").os_level and plan.namespaces


def test_limits_from_the_command_line_are_mib() -> None:
    limits = limits_from_options(memory_mib=512, file_mib=8, processes=32)
    assert (limits.memory_bytes, limits.file_bytes, limits.processes) == (512 << 20, 8 << 20, 32)
    assert limits_from_options() == ResourceLimits()


def test_the_text_report_states_the_isolation() -> None:
    plan = _guard_plan(not_enforced=("a bound on the number of processes",))
    out = io.StringIO()
    write_text(Report(kind="run", subject="train.py", extra={"sandbox": plan.describe()}), out)
    assert ("sandbox auto: guard only (in the script's interpreter; not a security boundary); not enforced "
            "here: a bound on the number of processes") in out.getvalue()


# -- the seccomp filters, run by a small classic-BPF interpreter -----------------------------------------
def _bpf_run(program: bytes, nr: int, arch: int, args: tuple[int, ...] = (0,) * 6) -> int:
    """What ``program`` returns for one call (the kernel's semantics for the instructions it uses)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    code = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif op in (0x15, 0x35, 0x45):
            hit = acc == k if op == 0x15 else acc >= k if op == 0x35 else bool(acc & k)
            pc += 1 + (jt if hit else jf)
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected BPF instruction {op:#x}")


@pytest.mark.skipif(ARCH is None, reason="no seccomp filter for this architecture")
def test_the_deny_filter_refuses_escapes_and_allows_the_rest() -> None:
    assert ARCH is not None
    prog = _seccomp.deny_program(ARCH)
    nr, audit = ARCH.nr, ARCH.audit
    eperm, allow = _seccomp.RET_ERRNO | 1, _seccomp.RET_ALLOW
    for name in ("mount", "umount2", "ptrace", "pidfd_getfd", "unshare", "setns", "keyctl", "bpf",
                 "process_vm_writev", "open_tree", "move_mount"):
        assert _bpf_run(prog, nr[name], audit) == eperm, name
    for ordinary in (0, 1, 2, 3, nr["connect"], nr["sendto"]):  # read, write, open... stay allowed
        assert _bpf_run(prog, ordinary, audit) == allow
    assert _bpf_run(prog, nr["clone"], audit, (0x10000000, 0, 0, 0, 0, 0)) == eperm  # CLONE_NEWUSER
    assert _bpf_run(prog, nr["clone"], audit, (0x01200011, 0, 0, 0, 0, 0)) == allow  # fork's flags
    assert _bpf_run(prog, nr["clone3"], audit) == _seccomp.RET_ERRNO | 38  # ENOSYS: libc falls back
    assert _bpf_run(prog, nr["ioctl"], audit, (1, 0x5412, 0, 0, 0, 0)) == eperm  # TIOCSTI
    assert _bpf_run(prog, nr["ioctl"], audit, (1, 0x5401, 0, 0, 0, 0)) == allow
    assert _bpf_run(prog, 0, 0x40000003) == _seccomp.RET_KILL_PROCESS  # another architecture (i386)
    if ARCH.x32:
        assert _bpf_run(prog, 0x40000000 | 0, audit) == eperm


@pytest.mark.skipif(ARCH is None, reason="no seccomp filter for this architecture")
def test_the_notify_filter_shows_connects_and_addressed_sends_only() -> None:
    assert ARCH is not None
    prog = _seccomp.notify_program(ARCH)
    nr, audit = ARCH.nr, ARCH.audit
    notify, allow = _seccomp.RET_USER_NOTIF, _seccomp.RET_ALLOW
    assert _bpf_run(prog, nr["connect"], audit) == notify
    assert _bpf_run(prog, nr["sendto"], audit, (3, 0, 10, 0, 0, 0)) == allow  # send() on a connected socket
    assert _bpf_run(prog, nr["sendto"], audit, (3, 0, 10, 0, 0x7FFF0010, 16)) == notify
    assert _bpf_run(prog, nr["sendto"], audit, (3, 0, 10, 0, 1 << 40, 16)) == notify  # a high pointer
    assert _bpf_run(prog, 0, audit) == allow


def test_socket_addresses_are_named() -> None:
    v4 = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 443) + socket.inet_aton("10.0.0.7") + bytes(8)
    assert _seccomp.describe_address(v4) == "10.0.0.7:443"
    v6 = (struct.pack("=H", socket.AF_INET6) + struct.pack("!H", 80) + bytes(4)
          + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + bytes(4))
    assert _seccomp.describe_address(v6) == "[2001:db8::1]:80"
    assert _seccomp.describe_address(struct.pack("=H", socket.AF_UNIX) + b"/tmp/x\0") is None


# -- running small scripts ------------------------------------------------------------------------------
@pytest.fixture
def servers() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two loopback servers of the test's own: the first stands for the mock S3, the other stays alone."""
    made = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.settimeout(0.05)
        made.append(s)
    yield made[0], made[1]
    for s in made:
        s.close()


def _launch(plan: SandboxPlan, tmp_path: Path, code: str, endpoint: str,
            python: str = sys.executable) -> tuple[subprocess.CompletedProcess[str], Any]:
    run_dir = tmp_path / "run"
    work = run_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    for d in ("home", "tmp"):
        (run_dir / d).mkdir(exist_ok=True)
    (work / "train.py").write_text(textwrap.dedent(code))
    box = SandboxRun(plan, run_dir, work, endpoint)
    env = {"PATH": os.environ["PATH"], "HOME": str(run_dir / "home"), "TMPDIR": str(run_dir / "tmp"),
           "PIE_CHECK_PROBE": str(run_dir / "probe.json")}
    argv, env = box.wrap([python, "train.py"], env)
    try:
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=60,
                              check=False)
    finally:
        outcome = box.finish()
    return done, outcome


GUARD_SCRIPT = """
    import json, os, socket
    cfg = json.load(open("cfg.json"))
    result = {}
    def attempt(name, fn):
        try:
            fn()
            result[name] = "ok"
        except OSError as exc:
            result[name] = type(exc).__name__
    attempt("mock", lambda: socket.create_connection(("127.0.0.1", cfg["allowed"]), timeout=2).close())
    attempt("other", lambda: socket.create_connection(("127.0.0.1", cfg["other"]), timeout=2).close())
    attempt("lookup", lambda: socket.getaddrinfo("example.org", 80))
    attempt("write_out", lambda: open(os.path.join(cfg["outside"], "x.txt"), "w").close())
    attempt("mkdir_out", lambda: os.mkdir(os.path.join(cfg["outside"], "d")))
    attempt("write_in", lambda: open("output.txt", "w").close())
    os.symlink(cfg["canary"], "link")
    attempt("write_link", lambda: open("link", "a").close())
    attempt("remove_link", lambda: os.remove("link"))
    attempt("devnull", lambda: open(os.devnull, "w").close())
    print(json.dumps(result))
"""


def _guard_run(plan: SandboxPlan, tmp_path: Path, servers: tuple[socket.socket, socket.socket]
               ) -> tuple[dict[str, str], Any, Path, Path]:
    mock, other = servers
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = tmp_path / "canary.txt"
    canary.write_text("canary")
    work = tmp_path / "run" / "work"
    work.mkdir(parents=True)
    cfg = {"allowed": mock.getsockname()[1], "other": other.getsockname()[1], "outside": str(outside),
           "canary": str(canary)}
    (work / "cfg.json").write_text(json.dumps(cfg))
    done, outcome = _launch(plan, tmp_path, GUARD_SCRIPT, f"http://127.0.0.1:{mock.getsockname()[1]}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), outcome, outside, canary


def _accepted(s: socket.socket) -> bool:
    try:
        s.accept()[0].close()
        return True
    except TimeoutError:
        return False


def test_guard_allows_the_mock_and_the_run_folder_refuses_the_rest(
        tmp_path: Path, servers: tuple[socket.socket, socket.socket]) -> None:
    result, outcome, outside, canary = _guard_run(_guard_plan(), tmp_path, servers)
    assert result == {"mock": "ok", "other": "ConnectionRefusedError", "lookup": "gaierror",
                      "write_out": "PermissionError", "mkdir_out": "PermissionError", "write_in": "ok",
                      "write_link": "PermissionError", "remove_link": "ok", "devnull": "ok"}
    assert _accepted(servers[0]) and not _accepted(servers[1])
    assert list(outside.iterdir()) == [] and canary.read_text() == "canary"
    other_port = servers[1].getsockname()[1]
    assert {(e.kind, e.target) for e in outcome.events} == {
        ("connect", f"127.0.0.1:{other_port}"), ("resolve", "example.org"),
        ("write", str(outside / "x.txt")), ("write", str(outside / "d")), ("write", str(canary)),
    }
    assert outcome.level == "guard" and outcome.returncode is None  # the kit's own wait says it


@needs_bwrap
def test_bubblewrap_forwards_the_mock_and_sees_every_other_connect_from_outside(
        tmp_path: Path, servers: tuple[socket.socket, socket.socket]) -> None:
    result, outcome, outside, canary = _guard_run(plan_sandbox("strict"), tmp_path, servers)
    # The mock is reached through the kit's forwarder; the rest has no route, whatever the guard does.
    assert result["mock"] == "ok" and result["other"] == "ConnectionRefusedError"
    assert result["write_out"] in ("FileNotFoundError", "OSError") and result["write_in"] == "ok"
    assert _accepted(servers[0]) and not _accepted(servers[1])
    assert list(outside.iterdir()) == [] and canary.read_text() == "canary"
    assert sb.setup_problems(outcome) == [] and outcome.setup == {"forwarder": "ok", "call watch": "ok"}
    assert outcome.forwarded == 1 and outcome.returncode == 0
    other_port = servers[1].getsockname()[1]
    connects = {e.target for e in outcome.events if e.kind == "connect"}
    assert f"127.0.0.1:{other_port}" in connects  # seen by the kit's watch, outside the sandbox
    assert all(e.call in ("connect", "sendto") for e in outcome.events if e.kind == "connect")
    writes = {e.target for e in outcome.events if e.kind == "write"}
    assert str(outside / "x.txt") in writes  # refused by the kernel, named by the guard


IDENTITY = """
    import ctypes, json, os, socket
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    libc = ctypes.CDLL(None, use_errno=True)
    def call(fn, *args):
        r = fn(*args)
        return 0 if r == 0 else ctypes.get_errno()
    out = {
        "uid": os.getuid(), "caps": [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb")],
        "nnp": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
        "pid": os.getpid(), "ppid": os.getppid(),
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "dev": sorted(os.listdir("/dev")), "root": sorted(os.listdir("/")),
        "ifaces": sorted(name for _, name in socket.if_nameindex()),
        "remount": call(libc.mount, b"none", b"/", None, ctypes.c_ulong(32 | 4096 | 16384), None),
        "umount": call(libc.umount2, b"/tmp", 2),
        "unshare": call(libc.unshare, 0x10000000),
        "mknod": call(libc.mknod, b"loop9", 0o60600, os.makedev(7, 9)),
        "sys": sorted(os.listdir("/sys")) if os.path.isdir("/sys") else [],
        "home": os.path.isdir(os.path.expanduser("~root/.aws")),
    }
    print(json.dumps(out))
"""


@needs_bwrap
def test_the_script_is_unprivileged_alone_and_sees_no_device(tmp_path: Path) -> None:
    done, outcome = _launch(plan_sandbox("strict"), tmp_path, IDENTITY, "")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["uid"] == sb.SANDBOX_UID
    assert got["caps"] == ["0000000000000000"] * 4 and got["nnp"] == "1"
    assert got["seccomp"] == ("2" if ARCH is not None else "0")
    assert got["ppid"] == 1 and got["procs"] == [1, got["pid"]]  # the launcher and itself, nothing else
    assert set(got["dev"]) <= {"core", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr",
                               "stdin", "stdout", "tty", "urandom", "zero"}
    assert got["ifaces"] == ["lo"]
    assert got["remount"] == 1 and got["umount"] == 1 and got["unshare"] == 1 and got["mknod"] == 1  # EPERM
    assert "block" not in got["sys"] and "class" not in got["sys"]
    assert "root" not in got["root"] or not got["home"]
    assert outcome.returncode == 0


@needs_bwrap
def test_what_bypasses_the_guard_is_stopped_by_the_kernel(tmp_path: Path) -> None:
    # A folder of the test's own, bound read-only because the interpreter is started from it.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    python = bindir / "python"
    python.symlink_to(sys.executable)
    canary = bindir / "canary.txt"
    canary.write_text("CANARY")
    code = f"""
        import ctypes, os, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.open({str(canary).encode()!r}, os.O_WRONLY | os.O_APPEND)
        print("ctypes", fd, ctypes.get_errno())
        print("shell", subprocess.run(["sh", "-c", "echo x >> {canary}"]).returncode)
    """
    done, _ = _launch(plan_sandbox("strict"), tmp_path, code, "", python=str(python))
    assert "ctypes -1 30" in done.stdout, done.stderr  # EROFS
    assert "shell 0" not in done.stdout
    assert canary.read_text() == "CANARY"


@needs_bwrap
def test_output_is_bound_onto_the_runs_output(tmp_path: Path) -> None:
    code = """
        import os
        os.makedirs("/output/picture", exist_ok=True)
        with open("/output/trainlog.json", "w") as f:
            f.write("{}")
    """
    done, outcome = _launch(plan_sandbox("strict"), tmp_path, code, "")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "work" / "output" / "trainlog.json").read_text() == "{}"
    assert (tmp_path / "run" / "work" / "output" / "picture").is_dir()
    assert outcome.events == ()


REDIRECT = """
    import os, pathlib, shutil
    import numpy as np
    from PIL import Image
    os.makedirs("/output/files", exist_ok=True)
    os.makedirs("/output/picture", exist_ok=True)
    with open("/output/trainlog.json", "w") as f:
        f.write("{}")
    Image.new("RGB", (4, 4)).save("/output/picture/pred.png")
    shutil.copy("/output/picture/pred.png", "/output/picture/copy.png")
    pathlib.Path("/output/files/notes.txt").write_text("hi")
    np.save("/output/files/a.npy", np.zeros(2))
    try:
        import torch
        torch.save({"w": torch.zeros(1)}, "/output/files/m.th")
        assert torch.load("/output/files/m.th", weights_only=True)["w"].shape == (1,)
    except ImportError:
        open("/output/files/m.th", "wb").close()
    print(sorted(os.listdir("/output/picture")), os.path.exists("/output/files/m.th"))
"""


@pytest.mark.parametrize("level", ["none", "guard", "os"])
def test_a_script_writing_to_slash_output_lands_in_the_runs_output(level: str, tmp_path: Path) -> None:
    if level == "os" and not OS_LEVEL:
        pytest.skip("bubblewrap cannot run here")
    plan = {"none": plan_sandbox("none"), "guard": _guard_plan(), "os": plan_sandbox("auto")}[level]
    done, outcome = _launch(plan, tmp_path, REDIRECT, "")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['copy.png', 'pred.png'] True"
    out = tmp_path / "run" / "work" / "output"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "files/a.npy", "files/m.th", "files/notes.txt", "picture/copy.png", "picture/pred.png",
        "trainlog.json"]
    assert not Path("/output").exists() or not (Path("/output") / "trainlog.json").exists()
    assert [e for e in outcome.events if e.kind == "write"] == []


def test_rlimits_reach_the_script(tmp_path: Path) -> None:
    plan = _guard_plan(limits=ResourceLimits(memory_bytes=3 << 30, file_bytes=5 << 20, open_files=77))
    code = """
        import resource
        print([resource.getrlimit(r)[0] for r in (resource.RLIMIT_DATA, resource.RLIMIT_FSIZE,
                                                  resource.RLIMIT_NOFILE)])
    """
    done, _ = _launch(plan, tmp_path, code, "")
    assert done.stdout.strip() == str([3 << 30, 5 << 20, 77]), done.stderr


@needs_bwrap
def test_rlimits_and_a_process_bound_reach_the_script_in_bubblewrap(tmp_path: Path) -> None:
    plan = plan_sandbox("strict", ResourceLimits(memory_bytes=3 << 30, file_bytes=5 << 20, open_files=77,
                                                 processes=40))
    code = """
        import os, resource, time
        print([resource.getrlimit(r)[0] for r in (resource.RLIMIT_DATA, resource.RLIMIT_FSIZE,
                                                  resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC)])
        n = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
        except OSError as exc:
            print("refused after", n, exc.errno)
    """
    done, _ = _launch(plan, tmp_path, code, "")
    lines = done.stdout.splitlines()
    assert lines[0] == str([3 << 30, 5 << 20, 77, 40]), done.stderr
    assert lines[1].startswith("refused after") and int(lines[1].split()[2]) < 40


@pytest.mark.parametrize("code,expected", [
    ("import sys; sys.exit(7)", 7),
    ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -15),
    ("import sys; sys.exit(143)", 143),  # not to be taken for SIGTERM
])
def test_the_sandbox_reports_the_scripts_own_exit_status(tmp_path: Path, code: str, expected: int) -> None:
    plan = plan_sandbox("auto")
    done, outcome = _launch(plan, tmp_path, code, "")
    status = outcome.returncode if outcome.returncode is not None else done.returncode
    assert status == expected


@needs_bwrap
def test_forged_guard_records_are_not_believed_at_the_os_level(tmp_path: Path) -> None:
    code = f"""
        import json
        with open({str(tmp_path / "run" / "work" / "sandbox-guard.log")!r}, "a") as f:
            for kind, target in (("connect", "10.9.9.9:443"), ("resolve", "evil.example"),
                                 ("write", "/etc/forged")):
                f.write(json.dumps({{"kind": kind, "target": target, "call": "open(w)"}}) + "\\n")
    """
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "sandbox-guard.log").symlink_to(tmp_path / "run" / "work" / "sandbox-guard.log")
    done, outcome = _launch(plan_sandbox("strict"), tmp_path, code, "")
    assert done.returncode == 0, done.stderr
    # What the kit saw itself: the script wrote a file in its own folder, nothing else happened.
    assert outcome.events == ()


@needs_bwrap
def test_writes_are_seen_from_outside_at_the_call(tmp_path: Path) -> None:
    code = """
        import ctypes, os, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        libc.open(b"/usr/pie-check-never", os.O_WRONLY | os.O_CREAT, 0o644)  # through C, past any guard
        libc.mkdir(b"/etc/pie-check-never", 0o755)
        os.makedirs("inside/ok", exist_ok=True)
        open("inside/ok/file.txt", "w").close()
        open(os.path.expanduser("~/cache.txt"), "w").close()
        subprocess.run(["sh", "-c", "echo x > /var/pie-check-never; touch /dev/null"])
        libc.rename(b"inside/ok/file.txt", b"/tmp/moved.txt")
    """
    done, outcome = _launch(plan_sandbox("strict"), tmp_path, code, "")
    assert done.returncode == 0, done.stderr
    assert {(e.kind, e.target, e.call) for e in outcome.events} == {
        ("write", "/usr/pie-check-never", "openat"), ("write", "/etc/pie-check-never", "mkdir"),
        ("write", "/var/pie-check-never", "openat"), ("write", "/tmp/moved.txt", "rename"),
    }


def test_a_limit_that_could_not_be_set_up_is_reported(tmp_path: Path) -> None:
    plan = _guard_plan(limits=ResourceLimits(processes=10),
                       cgroup_root=tmp_path / "no-such-cgroup-hierarchy")
    done, outcome = _launch(plan, tmp_path, "print('ran')", "")
    assert done.stdout == "ran\n"
    (problem,) = sb.setup_problems(outcome)
    assert problem.startswith("cgroup: could not make ") and "No such file or directory" in problem
    assert outcome.details()["setup_failed"] == [problem]


def test_python_children_of_the_script_are_guarded_too(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    code = f"""
        import subprocess, sys
        child = "open({str(outside / 'child.txt')!r}, 'w')"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).returncode)
    """
    done, outcome = _launch(_guard_plan(), tmp_path, code, "")
    assert done.stdout.strip() == "1", done.stderr
    assert list(outside.iterdir()) == []
    assert [(e.kind, e.target) for e in outcome.events] == [("write", str(outside / "child.txt"))]


@needs_bwrap
def test_the_weights_helper_runs_in_its_own_sandbox() -> None:
    from pie_conformance.harness.weights import start_inspector

    with start_inspector() as insp:
        pid = insp.pid
        assert pid is not None
        status = Path(f"/proc/{pid}/status").read_text()
        nspid = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()
        assert nspid[-1] == "1" and len(nspid) == 3  # PID 1 of a namespace of its own
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


# -- the rules -----------------------------------------------------------------------------------------
def _record(*events: SandboxEvent) -> RunRecord:
    return RunRecord(scenario="baseline", task="segmentation", traincfg={"epochs": 1}, returncode=0,
                     sandbox_events=events, sandbox_level="guard")


def test_run003_names_each_address() -> None:
    from pie_conformance.rules import evaluate

    found = list(evaluate(["RUN003", "RUN007"], _record(
        SandboxEvent("connect", "10.0.0.7:443", "socket.connect"),
        SandboxEvent("resolve", "pypi.org", "socket.getaddrinfo"),
    )))
    assert [(f.rule, f.path) for f in found] == [("RUN003", "10.0.0.7:443"), ("RUN003", "pypi.org")]
    assert found[0].message == ("expected no network use other than the mock S3 through aiUtils, got a "
                                "connection to 10.0.0.7:443 (socket.connect); the sandbox refused it")
    assert "a name lookup of pypi.org" in found[1].message
    assert "aiUtils" in (found[0].hint or "")


def test_run007_names_each_path_and_caps_the_list() -> None:
    from pie_conformance.rules import evaluate

    events = [SandboxEvent("write", f"/srv/x{i}", "open(w)") for i in range(13)]
    found = list(evaluate(["RUN003", "RUN007"], _record(*events)))
    assert [f.rule for f in found] == ["RUN007"] * 11
    assert found[0].message == ("expected every write inside the working directory, got open(w) of /srv/x0, "
                                "outside the run folder; the sandbox refused it")
    assert found[-1].message == "... and 3 more writes outside the run folder"
    assert list(evaluate(["RUN003", "RUN007"], _record())) == []


@pytest.mark.slow
def test_the_command_passes_the_level_and_limits_and_the_json_report_states_them(tmp_path: Path) -> None:
    conformant = Path(__file__).resolve().parents[1] / "cases" / "conformant" / "segmentation"
    out = tmp_path / "report.json"
    status = cli.main(["run", str(conformant), "--task", "segmentation", "--scenario", "baseline", "--epochs",
                       "1", "--sandbox", "auto", "--memory-limit", "20000", "--max-processes", "300",
                       "--format", "json", "--output", str(out)])
    report = json.loads(out.read_text())
    assert status == 0, report["findings"]
    box = report["sandbox"]
    assert box["mode"] == "auto" and box["level"] == ("os" if OS_LEVEL else "guard")
    assert box["limits"]["memory_bytes"] == 20000 << 20 and box["limits"]["processes"] == 300
    assert report["scenarios"][0]["sandbox"]["run_marker"]
    assert report["scenarios"][0]["sandbox"]["level"] == box["level"]
