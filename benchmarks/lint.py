"""How long `pie-check lint` takes on each reference script: in-process pass, and the whole command.

Prints, per reference script, the median seconds of reading + parsing the folder and of the SRC rules (in
this process, after a first warm-up), and the wall time of `python -m pie_conformance lint` (a fresh
interpreter each time, start-up included). Usage: python benchmarks/lint.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pie_conformance.rules.src import check_sources
    from pie_conformance.sources import read_sources

    print(f"{'script':<18} {'lines':>6} {'read+parse s':>13} {'rules s':>8} {'command s':>10}")
    for folder in sorted((ROOT / "reference_scripts").iterdir()):
        if not (folder / "train.py").exists():
            continue
        lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py"))
        reads, rules, commands = [], [], []
        check_sources(read_sources(folder))  # warm-up: imports, file cache
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            tree = read_sources(folder)
            t1 = time.perf_counter()
            check_sources(tree)
            t2 = time.perf_counter()
            reads.append(t1 - t0)
            rules.append(t2 - t1)
            t3 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pie_conformance", "lint", str(folder)],
                cwd=ROOT,
                capture_output=True,
                check=False,
            )
            commands.append(time.perf_counter() - t3)
        read, rule, command = (statistics.median(x) for x in (reads, rules, commands))
        print(f"{folder.name:<18} {lines:>6} {read:>13.3f} {rule:>8.3f} {command:>10.3f}")


if __name__ == "__main__":
    main()
