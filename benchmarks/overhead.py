"""What ``pie-check run --scenario baseline`` adds to a script's own run time, and whether epochs change it.

For each epoch count, the command is run as a user runs it (a new process, JSON report to a file) on a small
conformant script (benchmarks/overhead_script: 20 ms of "training" per epoch). The wall time of the whole
command is compared with the script's own wall time in the same run (``timings.script`` of the report: from
start to exit, less the time the kit held it stopped for snapshots). Goal: overhead under 0.5 s, and the same
at 200 epochs as at 2.

    python benchmarks/overhead.py [--epochs 2 200] [--repeat 3] [--task segmentation]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "overhead_script"
PHASES = ("setup", "prepare", "gate_wait", "frozen", "after_exit")


def one_run(epochs: int, task: str) -> dict[str, float]:
    """Run the command once; return its wall time and the report's timings."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        argv = [sys.executable, "-m", "pie_conformance", "run", str(SCRIPT), "--task", task, "--scenario",
                "baseline", "--epochs", str(epochs), "--format", "json", "--output", str(out)]
        t = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            sys.exit(f"pie-check exited with {done.returncode}:\n{done.stdout}{done.stderr}")
        report = json.loads(out.read_text(encoding="utf-8"))
    timings = report["timings"]
    # "startup": what the command costs outside check_script (interpreter start, imports, exit).
    return {"wall": wall, "script": timings["script"], "startup": wall - timings["total"],
            **{p: timings.get(p, 0.0) for p in PHASES}}


def main() -> None:
    """Print the overhead per epoch count, then the per-epoch cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--task", default="segmentation")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f}; median of {args.repeat} runs each")
    print(f"{'epochs':>6} {'wall s':>8} {'script s':>9} {'overhead s':>11}  "
          + " ".join(f"{p:>10}" for p in ("startup", *PHASES)))
    medians: dict[int, float] = {}
    for epochs in args.epochs:
        runs = [one_run(epochs, args.task) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        overhead = statistics.median(r["wall"] - r["script"] for r in runs)
        medians[epochs] = overhead
        print(f"{epochs:>6} {med['wall']:>8.2f} {med['script']:>9.2f} {overhead:>11.2f}  "
              + " ".join(f"{med[p]:>10.3f}" for p in ("startup", *PHASES)))
    if len(medians) >= 2:
        lo, hi = min(medians), max(medians)
        per_epoch = (medians[hi] - medians[lo]) / (hi - lo)
        print(f"overhead per extra epoch: {per_epoch * 1000:.1f} ms ({lo} -> {hi} epochs)")


if __name__ == "__main__":
    main()
