"""What each sandbox level adds to starting a script: a trivial script started through each, median of N.

The script imports ``socket`` and opens one connection to a loopback server standing for the mock S3, so the
OS level's forwarder is part of the figure. Prints milliseconds per start at each level, the one-off costs
(the capability probe, the question to the interpreter about its folders), and, with ``--against REV``, the
same figures for the sandbox of an earlier commit (its namespace launcher built on ``unshare``), loaded from
git into a temporary folder and measured in the same run, side by side.

    python benchmarks/sandbox.py [--repeat 15] [--against b287c0f]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from pie_conformance.harness import sandbox as sb

SCRIPT = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()\n"
ROOT = Path(__file__).resolve().parents[1]
#: The files of an earlier sandbox, loaded from git for --against.
_OLD_FILES = tuple(f"pie_conformance/harness/{name}" for name in (
    "sandbox.py", "_guard/_launch.py", "_guard/sitecustomize.py", "_probe/sitecustomize.py"))


def _serve(s: socket.socket) -> None:
    while True:
        try:
            s.accept()[0].close()
        except OSError:
            return


def one(module: Any, plan: Any, port: int) -> float:
    """Seconds to start, run and end the script once under ``plan`` (a plan of ``module``)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        work = run_dir / "work"
        work.mkdir()
        for d in ("home", "tmp"):
            (run_dir / d).mkdir()
        (work / "train.py").write_text(SCRIPT)
        box = module.SandboxRun(plan, run_dir, work, f"http://127.0.0.1:{port}")
        env = {"PATH": os.environ["PATH"], "HOME": str(run_dir / "home"), "TMPDIR": str(run_dir / "tmp")}
        argv, env = box.wrap([sys.executable, "train.py", str(port)], env)
        t = time.perf_counter()
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, check=False)
        box.finish()
        elapsed = time.perf_counter() - t
        if done.returncode != 0:
            sys.exit(f"the script failed under {plan.mode}: {done.stderr.decode(errors='replace')}")
        return elapsed


def load_old(rev: str, into: Path) -> ModuleType:
    """The sandbox module of commit ``rev`` (with its launcher and guard), importable on its own."""
    pkg = into / "oldbox"
    for rel in _OLD_FILES:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{rel}"], capture_output=True,
                              check=True).stdout
        dest = pkg / Path(rel).relative_to("pie_conformance/harness")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(text)
    spec = importlib.util.spec_from_file_location("oldbox_sandbox", pkg / "sandbox.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["oldbox_sandbox"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--against", metavar="REV", help="also measure the sandbox of this earlier commit")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t = time.perf_counter()
    caps = sb.capabilities(refresh=True)
    print(f"capability probe: {(time.perf_counter() - t) * 1000:.0f} ms (bubblewrap: {caps.bubblewrap}, "
          f"seccomp: {caps.seccomp}, pids cgroup: {caps.pids_cgroup is not None})")
    t = time.perf_counter()
    sb.interpreter_paths(sys.executable)
    print(f"interpreter folders asked once per interpreter: {(time.perf_counter() - t) * 1000:.0f} ms")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    threading.Thread(target=_serve, args=(server,), daemon=True).start()
    port = server.getsockname()[1]
    plans: dict[str, tuple[Any, Any]] = {
        "none": (sb, sb.plan_sandbox("none")),
        "guard": (sb, sb.SandboxPlan(mode="auto", os_level=False, guard=True, limits=sb.ResourceLimits(),
                                     cgroup_root=caps.pids_cgroup)),
    }
    if caps.bubblewrap:
        plans["os (bubblewrap)"] = (sb, sb.plan_sandbox("strict"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            old = load_old(args.against, Path(tmp))
            old_caps = old.capabilities(refresh=True)
            plans[f"guard ({args.against})"] = (old, old.SandboxPlan(
                mode="auto", namespaces=False, guard=True, limits=old.ResourceLimits(),
                cgroup_root=old_caps.pids_cgroup))
            if old_caps.namespaces:
                plans[f"os ({args.against}, unshare)"] = (old, old.plan_sandbox("strict"))
        times: dict[str, list[float]] = {name: [] for name in plans}
        for module, plan in plans.values():
            one(module, plan, port)  # warm: caches, the page cache
        for _ in range(args.repeat):  # interleaved, so that a change of load hits every level alike
            for name, (module, plan) in plans.items():
                times[name].append(one(module, plan, port))
    base = statistics.median(times["none"]) * 1000
    medians = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
    for name, med in medians.items():
        print(f"{name:>26}: {med:6.1f} ms per start (median of {args.repeat}), "
              f"+{med - base:6.1f} ms over none")
    new_os = medians.get("os (bubblewrap)")
    old_os = next((m for n, m in medians.items() if "unshare" in n), None)
    if new_os is not None and old_os is not None:
        print(f"bubblewrap / earlier unshare launcher: {(new_os - base) / max(old_os - base, 1e-9):.2f}x the "
              f"added cost ({new_os - base:.0f} ms against {old_os - base:.0f} ms)")
    server.close()


if __name__ == "__main__":
    main()
