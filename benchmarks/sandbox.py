"""What each sandbox level adds to starting a script: a trivial script started through each, median of N.

The script imports ``socket`` and opens one connection to a loopback server standing for the mock S3, so the
OS level's forwarder is part of the figure. Prints milliseconds per start at each level, and the cost of the
one-off capability probe.

    python benchmarks/sandbox.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pie_conformance.harness import sandbox as sb

SCRIPT = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()\n"


def _serve(s: socket.socket) -> None:
    while True:
        try:
            s.accept()[0].close()
        except OSError:
            return


def one(plan: sb.SandboxPlan, port: int) -> float:
    """Seconds to start, run and end the script once under ``plan``."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        work = run_dir / "work"
        work.mkdir()
        (work / "train.py").write_text(SCRIPT)
        box = sb.SandboxRun(plan, run_dir, work, f"http://127.0.0.1:{port}")
        argv, env = box.wrap([sys.executable, "train.py", str(port)], {"PATH": os.environ["PATH"]})
        t = time.perf_counter()
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, check=False)
        box.finish()
        elapsed = time.perf_counter() - t
        if done.returncode != 0:
            sys.exit(f"the script failed under {plan.mode}: {done.stderr.decode(errors='replace')}")
        return elapsed


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    t = time.perf_counter()
    caps = sb.capabilities(refresh=True)
    print(f"capability probe: {(time.perf_counter() - t) * 1000:.0f} ms "
          f"(namespaces: {caps.namespaces}, pids cgroup: {caps.pids_cgroup is not None})")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    threading.Thread(target=_serve, args=(server,), daemon=True).start()
    port = server.getsockname()[1]
    plans = {"none": sb.plan_sandbox("none"),
             "guard": sb.SandboxPlan(mode="auto", namespaces=False, guard=True, limits=sb.ResourceLimits(),
                                     cgroup_root=caps.pids_cgroup)}
    if caps.namespaces:
        plans["os"] = sb.plan_sandbox("strict")
    base = None
    for name, plan in plans.items():
        times = [one(plan, port) for _ in range(args.repeat)]
        med = statistics.median(times) * 1000
        base = med if base is None else base
        print(f"{name:>5}: {med:6.1f} ms per start (median of {args.repeat}), "
              f"+{med - base:5.1f} ms over none")
    server.close()


if __name__ == "__main__":
    main()
