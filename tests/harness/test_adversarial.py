"""The adversarial corpus (tests/cases/adversarial/): scripts that attack the harness, each run through it.

For each: the harness survives, reports the right rules, leaves no process of the run alive and nothing
outside the run, and (for the disruptive ones) the next run is unaffected. The scripts aim only at canary
files, folders and a server this test makes itself. Outcomes are those of the sandbox this machine allows
(``auto``); the guard-only level is exercised by the tests at the end with a plan that has no namespaces.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pie_conformance import CheckOptions, check_script
from pie_conformance.findings import Report
from pie_conformance.harness.sandbox import RUN_MARKER_VAR, ResourceLimits, SandboxPlan, capabilities

CORPUS = Path(__file__).resolve().parents[1] / "cases" / "adversarial"
CONFORMANT = Path(__file__).resolve().parents[1] / "cases" / "conformant" / "segmentation"
OS_LEVEL = capabilities().namespaces
NO_EPOCH = {"PRG001", "RUN006"}  # what a script that reads no data and announces no epoch always gets

pytestmark = pytest.mark.slow


def _case(name: str, tmp_path: Path, **files: str) -> Path:
    """A copy of the case (links followed, as an upload would) with the files the test gives it."""
    dest = tmp_path / name
    shutil.copytree(CORPUS / name, dest, symlinks=False)
    for fname, text in files.items():
        (dest / fname).write_text(text)
    return dest


def _run(folder: Path, **kw: Any) -> Report:
    kw.setdefault("timeout", 60)
    kw.setdefault("epochs", 1)
    return check_script(folder, CheckOptions(task="segmentation", scenarios=["baseline"], **kw))


def _markers(report: Report) -> list[str]:
    return [s.details["sandbox"]["run_marker"] for s in report.scenarios if "sandbox" in s.details]


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment carries the run's marker."""
    needle = f"{RUN_MARKER_VAR}={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env.split(b"\0") and state != b"Z":
            found.append(int(name))
    return found


def _assert_nothing_left(report: Report) -> None:
    markers = _markers(report)
    assert markers, report.scenarios
    for marker in markers:
        assert _processes_with(marker) == []
        assert not Path(f"/sys/fs/cgroup/pids/pie-check-{marker}").exists()


def _assert_next_run_unaffected() -> None:
    report = _run(CONFORMANT)
    assert report.conformant, [(f.rule, f.message) for f in report.findings]
    _assert_nothing_left(report)


@pytest.fixture
def server() -> Iterator[socket.socket]:
    """A TCP server of the test's own on loopback (not the mock S3): nothing may reach it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


def _accepted_nothing(s: socket.socket) -> bool:
    try:
        conn, _ = s.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


# -- time, processes, output volume ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["loop_forever", "sleep_forever"])
def test_never_ending_scripts_are_killed_at_the_limit(name: str, tmp_path: Path) -> None:
    report = _run(_case(name, tmp_path), timeout=2)
    assert report.rule_ids() == {"RUN002"}
    _assert_nothing_left(report)


def test_fork_repeatedly_is_bounded_and_every_child_killed(tmp_path: Path) -> None:
    report = _run(_case("fork_repeatedly", tmp_path), limits=ResourceLimits(processes=40))
    assert report.rule_ids() == {"RUN001"}
    (f,) = report.findings
    forked = int(f.message.rsplit("forked ", 1)[1])
    if capabilities().pids_cgroup is not None:
        assert forked < 40, f.message
    _assert_nothing_left(report)
    _assert_next_run_unaffected()


def test_daemon_child_does_not_outlive_the_run(tmp_path: Path) -> None:
    report = _run(_case("daemon_child", tmp_path))
    assert report.rule_ids() == NO_EPOCH
    _assert_nothing_left(report)
    _assert_next_run_unaffected()


def test_a_gigabyte_on_stdout_is_read_and_dropped(tmp_path: Path) -> None:
    report = _run(_case("stdout_flood", tmp_path))
    assert report.rule_ids() == NO_EPOCH
    (scenario,) = report.scenarios
    assert scenario.details["stdout_bytes"] == 1024 * 1024 * 1024
    assert "keeps its first and last" in scenario.details["stdout_note"]
    _assert_nothing_left(report)


def test_ten_thousand_files(tmp_path: Path) -> None:
    report = _run(_case("many_files", tmp_path))
    assert report.rule_ids() == {"LOG001", "OUT001", "OUT004", "OUT009", "RUN006"}
    _assert_nothing_left(report)


# -- outputs the kit must not trust ---------------------------------------------------------------------
def test_png_decompression_bomb(tmp_path: Path) -> None:
    report = _run(_case("png_bomb", tmp_path), epochs=2)
    assert report.rule_ids() == {"OUT005"}
    assert all("bomb" in f.message for f in report.findings), [f.message for f in report.findings]
    _assert_nothing_left(report)


def test_huge_picture_stops_at_the_file_size_limit(tmp_path: Path) -> None:
    report = _run(_case("huge_picture", tmp_path), epochs=2, limits=ResourceLimits(file_bytes=8 << 20))
    assert report.rule_ids() == {"RUN001"}
    assert "File too large" in report.findings[0].message
    _assert_nothing_left(report)


def test_symlink_in_output_is_never_followed(tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-SYSTEM-FILE-7d1f\n")
    keep = tmp_path / "keep"
    report = _run(_case("symlink_in_output", tmp_path, **{"target.txt": str(canary)}), epochs=2, keep=keep)
    assert report.rule_ids() == {"OUT005"}
    assert canary.read_text() == "CANARY-SYSTEM-FILE-7d1f\n"
    for path in keep.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b"CANARY-SYSTEM-FILE" not in path.read_bytes(), path
    _assert_nothing_left(report)


def test_output_replaced_by_a_file(tmp_path: Path) -> None:
    report = _run(_case("output_is_a_file", tmp_path))
    assert report.rule_ids() == {"LOG001", "OUT001", "OUT004", "RUN006"}
    _assert_nothing_left(report)


def test_trainlog_rewritten_non_atomically_in_a_tight_loop(tmp_path: Path) -> None:
    report = _run(_case("trainlog_rewrite_loop", tmp_path), epochs=2)
    assert report.rule_ids() == {"LOG002"}
    _assert_nothing_left(report)


# -- the kit itself, the dataset, credentials, network, files -------------------------------------------
def test_kill_parent(tmp_path: Path) -> None:
    report = _run(_case("kill_parent", tmp_path))
    if OS_LEVEL:
        # The parent is PID 1 of the script's namespace: a signal from inside does not reach it.
        assert report.rule_ids() == NO_EPOCH
    else:
        assert "RUN001" in report.rule_ids()
    _assert_nothing_left(report)
    _assert_next_run_unaffected()


def test_deleting_the_dataset_is_reported_and_undone_for_the_next_run(tmp_path: Path) -> None:
    report = _run(_case("delete_dataset", tmp_path))
    assert report.rule_ids() == NO_EPOCH | {"RUN004"}
    assert any("DELETE" in f.message for f in report.findings if f.rule == "RUN004")
    _assert_nothing_left(report)
    _assert_next_run_unaffected()


def test_credentials_of_the_user_never_reach_the_script(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "kit-home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = CANARY-HOME-3b9e\n")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "CANARY-ENV-51c0")
    monkeypatch.setenv("HOME", str(home))
    keep = tmp_path / "keep"
    report = _run(_case("read_credentials", tmp_path, **{"home.txt": str(home)}), keep=keep)
    assert report.rule_ids() == NO_EPOCH
    (found,) = keep.rglob("work/output/found.txt")
    text = found.read_text()
    assert "AWS_SECRET_ACCESS_KEY=" in text  # the throw-away key of the mock S3 is there...
    assert "CANARY-ENV-51c0" not in text  # ...never the user's
    if OS_LEVEL:  # the kit's home is hidden, and other processes' environments are out of sight
        assert "CANARY-HOME-3b9e" not in text
    _assert_nothing_left(report)


def test_connections_out_are_refused_and_named(tmp_path: Path, server: socket.socket) -> None:
    port = server.getsockname()[1]
    report = _run(_case("connect_out", tmp_path, **{"port.txt": str(port)}))
    assert report.rule_ids() == NO_EPOCH | {"RUN003"}
    shown = {f.path for f in report.findings if f.rule == "RUN003"}
    assert {f"127.0.0.1:{port}", "example.com"} <= shown
    if OS_LEVEL:
        assert "192.0.2.1:80" in shown  # tried only inside the namespace, where nothing can leave
    assert _accepted_nothing(server)
    _assert_nothing_left(report)


def test_writes_outside_the_run(tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.mkdir()
    report = _run(_case("write_outside", tmp_path, **{"target.txt": str(target)}))
    assert report.rule_ids() == NO_EPOCH | {"RUN007"}
    (f,) = [f for f in report.findings if f.rule == "RUN007"]
    assert f.path == str(target / "from_python.txt")
    if OS_LEVEL:  # read-only mounts stop the shell's write too
        assert list(target.iterdir()) == []
    else:
        assert not (target / "from_python.txt").exists()
    _assert_nothing_left(report)


# -- the fallback: the guard alone ---------------------------------------------------------------------
def _guard_only(**limits: Any) -> SandboxPlan:
    return SandboxPlan(mode="auto", namespaces=False, guard=True, limits=ResourceLimits(**limits),
                       cgroup_root=capabilities().pids_cgroup)


def test_guard_only_refuses_and_names_connections(tmp_path: Path, server: socket.socket) -> None:
    port = server.getsockname()[1]
    report = _run(_case("connect_out", tmp_path, **{"port.txt": str(port)}), sandbox=_guard_only())
    assert report.rule_ids() == NO_EPOCH | {"RUN003"}
    assert {f.path for f in report.findings if f.rule == "RUN003"} == {f"127.0.0.1:{port}", "example.com"}
    assert _accepted_nothing(server)
    _assert_nothing_left(report)


def test_guard_only_refuses_python_writes_and_says_a_shell_gets_through(tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.mkdir()
    report = _run(_case("write_outside", tmp_path, **{"target.txt": str(target)}), sandbox=_guard_only())
    assert report.rule_ids() == NO_EPOCH | {"RUN007"}
    assert not (target / "from_python.txt").exists()
    # Detection, not a jail: a program the script starts is outside the guard (docs/sandbox.md).
    assert (target / "from_shell.txt").exists()
    _assert_nothing_left(report)


def test_guard_only_kill_parent_ends_the_run_not_the_kit(tmp_path: Path) -> None:
    report = _run(_case("kill_parent", tmp_path), sandbox=_guard_only())
    assert "RUN001" in report.rule_ids()
    assert any("SIGKILL" in f.message for f in report.findings if f.rule == "RUN001")
    _assert_nothing_left(report)
    _assert_next_run_unaffected()


def test_guard_only_without_a_cgroup_counts_processes_and_ends_a_fork_loop(tmp_path: Path) -> None:
    plan = SandboxPlan(mode="auto", namespaces=False, guard=True, limits=ResourceLimits(processes=40),
                       cgroup_root=None)
    report = _run(_case("fork_repeatedly", tmp_path), sandbox=plan)
    assert report.rule_ids() == {"RUN001"}
    (scenario,) = report.scenarios
    assert scenario.details["sandbox"]["processes_exceeded"] > 40
    assert "SIGKILL" in report.findings[0].message
    _assert_nothing_left(report)


def test_guard_only_daemon_child_is_adopted_and_killed(tmp_path: Path) -> None:
    # No cgroup either: the launcher, a child subreaper, adopts the daemon and kills it at the end.
    plan = SandboxPlan(mode="auto", namespaces=False, guard=True, limits=ResourceLimits(), cgroup_root=None)
    report = _run(_case("daemon_child", tmp_path), sandbox=plan)
    assert report.rule_ids() == NO_EPOCH
    _assert_nothing_left(report)
