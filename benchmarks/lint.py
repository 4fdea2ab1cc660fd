"""How long `pie-check lint` takes on each reference script (or on the folders given).

Prints, per folder, the median of: reading + parsing its sources and running the SRC rules in this process
(after a warm-up), and the whole `python -m pie_conformance lint` command in a fresh interpreter, start-up
included. Each figure is given as CPU seconds (what the work costs, whatever else the machine runs) and
wall seconds (what a user waits). Usage: python benchmarks/lint.py [--repeat N] [FOLDER ...]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("folders", nargs="*", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pie_conformance.rules.src import check_sources
    from pie_conformance.sources import read_sources

    folders = args.folders or sorted(p.parent for p in (ROOT / "reference_scripts").glob("*/train.py"))
    head = f"{'folder':<18} {'files':>5} {'lines':>6}"
    print(f"{head}  {'in-process cpu/wall s':>22}  {'command cpu/wall s':>19}")
    for folder in folders:
        tree = read_sources(folder)
        lines = sum(len(f.text.splitlines()) for f in tree.files)
        check_sources(tree)  # warm-up: imports, file cache
        cpu, wall, cmd_cpu, cmd_wall = [], [], [], []
        for _ in range(args.repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            check_sources(read_sources(folder))
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            c1, w1 = _child_cpu(), time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pie_conformance", "lint", str(folder)],
                cwd=ROOT,
                capture_output=True,
                check=False,
            )
            cmd_cpu.append(_child_cpu() - c1)
            cmd_wall.append(time.perf_counter() - w1)
        a, b, c, d = (statistics.median(x) for x in (cpu, wall, cmd_cpu, cmd_wall))
        row = f"{folder.name:<18} {len(tree.files):>5} {lines:>6}"
        print(f"{row}  {a:>10.3f} / {b:>9.3f}  {c:>8.3f} / {d:>8.3f}")


if __name__ == "__main__":
    main()
