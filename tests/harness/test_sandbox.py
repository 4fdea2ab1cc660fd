"""The sandbox: plans per mode and machine, the launcher and the guard on small scripts, RUN003/RUN007."""

from __future__ import annotations

import io
import json
import os
import socket
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
from pie_conformance.harness.snapshot import take_snapshot
from pie_conformance.reporters.text import write_text

OS_LEVEL = capabilities().namespaces
needs_namespaces = pytest.mark.skipif(not OS_LEVEL, reason="this machine gives no user/network namespaces")


@pytest.fixture
def no_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the kit believe the machine allows no namespaces (and no cgroup)."""
    caps = Capabilities(namespaces=False, namespace_error="unshare refused: Operation not permitted",
                        pids_cgroup=None, cgroup_error="no pids cgroup hierarchy")
    monkeypatch.setattr(sb, "_CAPS", caps)


# -- plans ---------------------------------------------------------------------------------------------
def test_unknown_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="expected --sandbox among auto, strict, none, got 'tight'"):
        plan_sandbox("tight")


def test_none_enforces_nothing_and_says_so() -> None:
    plan = plan_sandbox("none")
    d = plan.describe()
    assert (d["level"], d["limits"]) == ("none", {})
    assert "network" in d["not_enforced"] and "without isolation" in d["summary"]


def test_strict_without_namespaces_is_an_environment_error(no_namespaces: None) -> None:
    with pytest.raises(UsageError, match="--sandbox strict needs Linux user, network, mount and PID"):
        plan_sandbox("strict")


def test_strict_without_namespaces_exits_2_from_the_command_line(no_namespaces: None, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.py").write_text("print('[Process: 1/1]')\n")
    status = cli.main(["run", str(tmp_path), "--task", "segmentation", "--sandbox", "strict"])
    assert status == 2
    assert "--sandbox auto" in capsys.readouterr().err


def test_auto_without_namespaces_falls_back_to_the_guard_and_says_so(no_namespaces: None) -> None:
    plan = plan_sandbox("auto")
    assert (plan.namespaces, plan.guard, plan.cgroup_root) == (False, True, None)
    d = plan.describe()
    assert d["level"] == "guard"
    missing = " | ".join(d["not_enforced"])
    assert "OS-level isolation (unshare refused: Operation not permitted)" in missing
    assert "/output is not mapped" in missing and "RLIMIT_NPROC does not bind root" in missing
    assert d["summary"].startswith("sandbox auto: guard only")


@needs_namespaces
def test_auto_here_is_os_level() -> None:
    plan = plan_sandbox("auto")
    assert plan.namespaces and plan.describe()["level"] == "os"
    assert plan_sandbox("strict").namespaces


def test_limits_from_the_command_line_are_mib() -> None:
    limits = limits_from_options(memory_mib=512, file_mib=8, processes=32)
    assert (limits.memory_bytes, limits.file_bytes, limits.processes) == (512 << 20, 8 << 20, 32)
    assert limits_from_options() == ResourceLimits()


def test_the_text_report_states_the_isolation() -> None:
    plan = SandboxPlan(mode="auto", namespaces=False, guard=True, limits=ResourceLimits(), cgroup_root=None,
                       not_enforced=("a bound on the number of processes",))
    out = io.StringIO()
    write_text(Report(kind="run", subject="train.py", extra={"sandbox": plan.describe()}), out)
    assert ("sandbox auto: guard only (in the script's interpreter); not enforced here: a bound on the "
            "number of processes") in out.getvalue()


# -- the guard and the launcher on small scripts --------------------------------------------------------
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


def _launch(plan: SandboxPlan, tmp_path: Path, code: str,
            endpoint: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    run_dir = tmp_path / "run"
    work = run_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "train.py").write_text(textwrap.dedent(code))
    box = SandboxRun(plan, run_dir, work, endpoint)
    argv, env = box.wrap([sys.executable, "train.py"], {"PATH": os.environ["PATH"], "HOME": str(run_dir)})
    try:
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=30,
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
    plan = SandboxPlan(mode="auto", namespaces=False, guard=True, limits=ResourceLimits(), cgroup_root=None)
    result, outcome, outside, canary = _guard_run(plan, tmp_path, servers)
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
    assert outcome.returncode == 0


@needs_namespaces
def test_namespaces_forward_the_mock_and_isolate_the_rest(
        tmp_path: Path, servers: tuple[socket.socket, socket.socket]) -> None:
    plan = plan_sandbox("strict")
    result, outcome, outside, canary = _guard_run(plan, tmp_path, servers)
    # The same answers as the guard alone, but the mock is reached through the launcher's forwarder.
    assert result["mock"] == "ok" and result["other"] == "ConnectionRefusedError"
    assert _accepted(servers[0]) and not _accepted(servers[1])
    assert list(outside.iterdir()) == [] and canary.read_text() == "canary"
    failed = {k: v for k, v in outcome.setup.items() if k != "pid" and v != "ok"}
    assert failed == {} and {"loopback", "read_only", "forwarder", "chdir"} <= set(outcome.setup)
    assert outcome.setup["pid"] == 1  # the launcher is PID 1 of its own namespace


@needs_namespaces
def test_namespaces_stop_what_bypasses_the_guard(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    code = f"""
        import ctypes, os, subprocess, sys
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.open({str(outside / 'ctypes.txt').encode()!r}, os.O_WRONLY | os.O_CREAT, 0o644)
        print("ctypes", fd, ctypes.get_errno())
        print("shell", subprocess.run(["sh", "-c", "echo x > {outside}/shell.txt"]).returncode)
    """
    done, _ = _launch(plan_sandbox("strict"), tmp_path, code, "")
    assert "ctypes -1 30" in done.stdout  # EROFS: the file system is read-only outside the run
    assert "shell 0" not in done.stdout
    assert list(outside.iterdir()) == []


@needs_namespaces
def test_only_loopback_exists_in_the_namespace(tmp_path: Path) -> None:
    code = """
        import socket
        print(sorted(name for _, name in socket.if_nameindex()))
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print("loopback up")
    """
    done, _ = _launch(plan_sandbox("strict"), tmp_path, code, "")
    assert done.stdout.split("\n")[:2] == ["['lo']", "loopback up"], done.stderr


@needs_namespaces
def test_output_folder_is_mapped_onto_the_runs_output(tmp_path: Path) -> None:
    mount = tmp_path / "slash-output"  # stands for /output, which this test may not create
    mount.mkdir()
    plan = plan_sandbox("strict", output_mount=str(mount))
    code = f"""
        with open("{mount}/trainlog.json", "w") as f:
            f.write("{{}}")
    """
    done, outcome = _launch(plan, tmp_path, code, "")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "work" / "output" / "trainlog.json").read_text() == "{}"
    assert list(mount.iterdir()) == []  # the machine's folder is untouched
    assert outcome.events == ()


def test_rlimits_reach_the_script(tmp_path: Path) -> None:
    plan = SandboxPlan(mode="auto", namespaces=False, guard=True, cgroup_root=None,
                       limits=ResourceLimits(memory_bytes=3 << 30, file_bytes=5 << 20, open_files=77))
    code = """
        import resource
        print([resource.getrlimit(r)[0] for r in (resource.RLIMIT_DATA, resource.RLIMIT_FSIZE,
                                                  resource.RLIMIT_NOFILE)])
    """
    done, _ = _launch(plan, tmp_path, code, "")
    assert done.stdout.strip() == str([3 << 30, 5 << 20, 77]), done.stderr


def test_the_launcher_reports_the_scripts_own_exit_status(tmp_path: Path) -> None:
    plan = SandboxPlan(mode="auto", namespaces=OS_LEVEL, guard=True, limits=ResourceLimits(),
                       cgroup_root=None)
    done, outcome = _launch(plan, tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)", "")
    assert outcome.returncode == -15
    assert done.returncode != 0


# -- snapshots never follow links out of output/ --------------------------------------------------------
def test_snapshot_keeps_links_as_links(tmp_path: Path) -> None:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text("CANARY-DIR")
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-FILE")
    work = tmp_path / "work"
    (work / "output" / "picture").mkdir(parents=True)
    (work / "output" / "picture" / "pred.png").symlink_to(canary)
    (work / "output" / "files").symlink_to(secret_dir, target_is_directory=True)
    snap = take_snapshot(work, tmp_path / "snap", index=1, k=1, n=1, line=1, elapsed=0.0, before={})
    assert snap.files["output/picture/pred.png"].is_symlink
    assert snap.files["output/picture/pred.png"].link_target == str(canary)
    assert snap.files["output/files"].is_symlink and "output/files/key.txt" not in snap.files
    for p in (tmp_path / "snap").rglob("*"):
        if p.is_file():
            assert b"CANARY" not in p.read_bytes()
    # output/ itself as a link: recorded, not entered.
    work2 = tmp_path / "work2"
    work2.mkdir()
    (work2 / "output").symlink_to(secret_dir, target_is_directory=True)
    snap2 = take_snapshot(work2, tmp_path / "snap2", index=1, k=1, n=1, line=1, elapsed=0.0, before={})
    assert list(snap2.files) == ["output"] and snap2.files["output"].is_symlink


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


def test_a_limit_that_could_not_be_set_up_is_reported(tmp_path: Path) -> None:
    plan = SandboxPlan(mode="auto", namespaces=False, guard=True, limits=ResourceLimits(processes=10),
                       cgroup_root=tmp_path / "no-such-cgroup-hierarchy")
    done, outcome = _launch(plan, tmp_path, "print('ran')", "")
    assert done.stdout == "ran\n"
    (problem,) = sb.setup_problems(outcome)
    assert problem.startswith("cgroup: could not make ") and "No such file or directory" in problem
    assert outcome.details()["setup_failed"] == [problem]


@pytest.mark.slow
def test_the_command_passes_the_level_and_limits_and_the_json_report_states_them(tmp_path: Path) -> None:
    from pathlib import Path as _P

    conformant = _P(__file__).resolve().parents[1] / "cases" / "conformant" / "segmentation"
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


def test_python_children_of_the_script_are_guarded_too(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    plan = SandboxPlan(mode="auto", namespaces=False, guard=True, limits=ResourceLimits(), cgroup_root=None)
    code = f"""
        import subprocess, sys
        child = "open({str(outside / 'child.txt')!r}, 'w')"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).returncode)
    """
    done, outcome = _launch(plan, tmp_path, code, "")
    assert done.stdout.strip() == "1", done.stderr
    assert list(outside.iterdir()) == []
    assert [(e.kind, e.target) for e in outcome.events] == [("write", str(outside / "child.txt"))]
