"""The process runner: freezing at progress lines, caps, time limit with group kill, stdin then EOF."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pie_conformance.harness.runner import STDOUT_HEAD, STDOUT_TAIL, ProcessSpec, _proc_state, run_process

ENV = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}


def _spec(tmp_path: Path, code: str, **kw: object) -> ProcessSpec:
    (tmp_path / "train.py").write_text(textwrap.dedent(code), encoding="utf-8")
    kw.setdefault("timeout", 20.0)
    return ProcessSpec([sys.executable, "train.py"], tmp_path, ENV, **kw)  # type: ignore[arg-type]


def test_progress_lines_freeze_the_process(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        """
        import json, os
        open("pid", "w").write(str(os.getpid()))
        n = json.loads(input())["epochs"]
        for k in range(1, n + 1):
            print("noise")
            print(f"[Process: {k}/{n}]")
    """,
        stdin=b'{"epochs": 3}\n',
    )
    seen = []

    def at(pl, index):  # noqa: ANN001
        pid = int((tmp_path / "pid").read_text())
        seen.append((index, pl.k, pl.n, pl.line, _proc_state(pid)))

    result = run_process(spec, at)
    assert result.returncode == 0 and not result.timed_out
    assert [(i, k, n, line) for i, k, n, line, _ in seen] == [(1, 1, 3, 2), (2, 2, 3, 4), (3, 3, 3, 6)]
    # While the callback ran the script was stopped (T), or already gone (Z) after its last line.
    assert all(state in ("T", "t", "Z", None) for *_, state in seen)
    assert result.frozen_time > 0
    assert result.script_time <= result.wall_time


def test_stdout_is_capped_but_every_line_is_parsed(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        """
        import sys
        for i in range(20000):
            sys.stdout.write("x" * 50 + "\\n")
        print("[Process: 1/1]")
        sys.stdout.write("y" * 300000)
        sys.stdout.write("\\n[process: 1/1]")
    """,
    )
    result = run_process(spec)
    assert result.returncode == 0
    assert [p.line for p in result.progress] == [20001]
    assert [p.text for p in result.near_misses] == ["[process: 1/1]"]
    assert result.stdout_bytes > 1_000_000
    assert len(result.stdout_head) == STDOUT_HEAD and len(result.stdout_tail) <= STDOUT_TAIL
    assert result.stdout_tail.endswith(b"[process: 1/1]")


def test_timeout_kills_the_group_and_grandchildren(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    spec = _spec(
        tmp_path,
        f"""
        import subprocess, sys, time
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        open({str(marker)!r}, "w").write(str(p.pid))
        print("[Process: 1/2]", flush=True)
        time.sleep(60)
    """,
        timeout=3.0,
    )
    t = time.monotonic()
    result = run_process(spec)
    assert time.monotonic() - t < 15
    assert result.timed_out and result.returncode is not None and result.returncode < 0
    assert [p.k for p in result.progress] == [1]
    pid = int(marker.read_text())
    for _ in range(50):
        if _proc_state(pid) in (None, "Z"):
            break
        time.sleep(0.1)
    assert _proc_state(pid) in (None, "Z")


def test_background_child_holding_stdout_does_not_hang_the_run(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        """
        import os, subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(60)"])
        print("[Process: 1/1]")
    """,
    )
    t = time.monotonic()
    result = run_process(spec)
    assert time.monotonic() - t < 10
    assert result.returncode == 0 and not result.timed_out


def test_stdin_gets_one_line_then_eof(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        """
        import sys
        first = input()
        try:
            input()
        except EOFError:
            sys.stderr.write("EOF after " + first + "\\n")
            sys.exit(3)
    """,
        stdin=b'{"a": 1}\n',
    )
    result = run_process(spec)
    assert result.returncode == 3
    assert result.stderr_text() == 'EOF after {"a": 1}'


def test_stop_after_progress_ends_the_run(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        """
        import time
        print("[Process: 1/5]", flush=True)
        time.sleep(30)
    """,
        stop_after_progress=1,
    )
    result = run_process(spec)
    assert result.stopped_by_kit and not result.timed_out
    assert result.wall_time < 10


def test_missing_interpreter_is_a_start_error(tmp_path: Path) -> None:
    spec = ProcessSpec([str(tmp_path / "no-python"), "train.py"], tmp_path, ENV)
    result = run_process(spec)
    assert result.returncode is None and result.start_error


def test_probe_pauses_the_script_until_the_snapshot_is_taken(tmp_path: Path) -> None:
    from pie_conformance.harness.execution import PROBE_DIR as _PROBE_DIR

    spec = _spec(
        tmp_path,
        """
        import sys
        for k in range(1, 31):
            print(f"[Process: {k}/30]")
            open("state", "w").write(str(k))  # the next epoch starts at once
        sys.stdout.buffer.write(b"[Process: 31/30]\\n")
        sys.stdout.write("[Process: 32/")
        sys.stdout.write("30]\\r\\n")
        print("[process: 33/30]")
        open("state", "w").write("end")
    """,
    )
    env = dict(ENV, PYTHONPATH=str(_PROBE_DIR))
    spec = ProcessSpec(spec.argv, spec.cwd, env, timeout=20.0)
    seen = []

    def at(pl, index):  # noqa: ANN001
        state = tmp_path / "state"
        seen.append((pl.k, state.read_text() if state.exists() else None))

    result = run_process(spec, at)
    assert result.returncode == 0
    # Every snapshot saw the state as it was when the line was printed, never the next epoch's.
    assert seen == [(1, None)] + [(k, str(k - 1)) for k in range(2, 31)] + [(31, "30"), (32, "30")]
    assert [p.text for p in result.near_misses] == ["[process: 33/30]"]


def test_gate_holds_the_first_connection_until_it_opens(tmp_path: Path) -> None:
    import socket

    from pie_conformance.harness.execution import PROBE_DIR as _PROBE_DIR
    from pie_conformance.harness.session import _free_port

    port = _free_port()
    spec = _spec(
        tmp_path,
        f"""
        import socket
        with socket.create_connection(("127.0.0.1", {port}), timeout=10) as s:
            print(s.recv(5).decode())
    """,
    )
    listener: list[socket.socket] = []

    def gate() -> None:  # the server only exists once the gate opens
        time.sleep(0.5)
        srv = socket.create_server(("127.0.0.1", port))
        listener.append(srv)

        def serve() -> None:
            conn, _ = srv.accept()
            conn.sendall(b"hello")
            conn.close()

        import threading

        threading.Thread(target=serve, daemon=True).start()

    env = dict(ENV, PYTHONPATH=str(_PROBE_DIR))
    result = run_process(ProcessSpec(spec.argv, spec.cwd, env, timeout=20.0, gate=gate))
    listener[0].close()
    assert result.returncode == 0, result.stderr_text()
    assert result.stdout_head == b"hello\n"
    assert result.gate_time >= 0.5


def test_a_failing_gate_ends_the_script(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "import time; time.sleep(30)")

    def gate() -> None:
        raise RuntimeError("no server")

    t = time.monotonic()
    with pytest.raises(RuntimeError, match="no server"):
        run_process(ProcessSpec(spec.argv, spec.cwd, ENV, timeout=20.0, gate=gate))
    assert time.monotonic() - t < 10


def test_the_time_limit_counts_the_time_held_for_snapshots(tmp_path: Path) -> None:
    from pie_conformance.harness.runner import time_left

    spec = _spec(tmp_path, """
        k = 0
        while True:
            k += 1
            print(f"[Process: {k}/1000]")
    """, timeout=1.5)
    left: list[float | None] = []

    def slow_snapshot(pl, index):  # noqa: ANN001
        left.append(time_left())
        time.sleep(0.2)  # a costly snapshot, as thousands of files would make it

    t = time.monotonic()
    result = run_process(spec, slow_snapshot)
    wall = time.monotonic() - t
    assert result.timed_out and left and result.frozen_time >= 0.2 * (len(left) - 1)
    assert result.wall_time < 2.5 and wall < 4.0  # the limit, not the sum of the snapshots
    assert all(x is not None and x > 0 for x in left) and len(left) <= 8
    assert time_left() is None  # only inside a callback
    assert result.script_time == pytest.approx(result.wall_time - result.frozen_time, abs=0.01)
