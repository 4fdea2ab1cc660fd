"""Cost of ``--explore``: the engine's own overhead, optionally a real exploration; prints figures.

Usage: python benchmarks/explore.py [--examples 8] [--seed 0] [--script PATH --task TASK]

Figures printed:
- drawing one configuration (Hypothesis) and validating it (ms each), per task;
- generating the matching dataset in memory (ms per example, with its size in KiB);
- the whole engine with a no-op script: seconds for ``--examples`` configurations, and with a script that
  fails at once, seconds including up to 20 shrinking tries (no script runs: the kit's own cost);
- with ``--script``: ``check_script(script, scenarios=["baseline"], explore=N, seed=S)`` end to end: total
  seconds, the baseline's and each example's script seconds, shrinking runs. The goal: 8 examples of a
  reference script in a few minutes on two cores.
Other load on the machine raises every figure; compare within one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from pie_conformance.datasets import TASKS, generate  # noqa: E402
from pie_conformance.explore import Example, assert_valid, examples, explore  # noqa: E402
from pie_conformance.findings import Finding, ScenarioResult, Severity  # noqa: E402


def _draws(task: str, n: int) -> list[Example]:
    out: list[Example] = []

    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(examples(task))
    def collect(example: Example) -> None:
        out.append(example)

    collect()
    return out


def engine_figures(n: int, seed: int) -> None:
    """Drawing, validating, dataset generation and the engine loop, without any script run."""
    for task in TASKS:
        t0 = time.perf_counter()
        drawn = _draws(task, 100)
        draw_ms = (time.perf_counter() - t0) * 1000 / len(drawn)
        t0 = time.perf_counter()
        for e in drawn:
            assert_valid(e)
        valid_ms = (time.perf_counter() - t0) * 1000 / len(drawn)
        sizes, t0 = [], time.perf_counter()
        for e in drawn[:20]:
            sizes.append(generate(e.dataset_spec(task)).total_bytes() / 1024)
        gen_ms = (time.perf_counter() - t0) * 1000 / 20
        print(f"{task:17s} draw {draw_ms:6.1f} ms  validate {valid_ms:5.1f} ms  dataset {gen_ms:6.1f} ms "
              f"(median {statistics.median(sizes):.0f} KiB, max {max(sizes):.0f} KiB)")

    def noop(name: str, cfg: dict[str, Any], spec: Any) -> tuple[list[Finding], ScenarioResult]:
        return [], ScenarioResult(name)

    def failing(name: str, cfg: dict[str, Any], spec: Any) -> tuple[list[Finding], ScenarioResult]:
        return [Finding("OUT007", Severity.ERROR, "x", scenario=name)], ScenarioResult(name)

    t0 = time.perf_counter()
    explore(noop, script="train.py", task="segmentation", n=n, seed=seed)
    print(f"engine, {n} conformant examples, no script: {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    out = explore(failing, script="train.py", task="segmentation", n=n, seed=seed,
                  save_dir=Path(sys.argv[0]).resolve().parent / ".explore-bench")
    print(f"engine, first example fails, {out.shrink_runs} shrinking tries, no script: "
          f"{time.perf_counter() - t0:.2f} s")
    if out.saved is not None:
        out.saved.unlink()
        out.saved.parent.rmdir()


def script_figures(script: str, task: str, n: int, seed: int) -> None:
    """One real exploration of ``script`` through the harness."""
    from pie_conformance import CheckOptions, check_script

    t0 = time.perf_counter()
    report = check_script(script, CheckOptions(task=task, scenarios=["baseline"], explore=n, seed=seed,
                          explore_dir=Path.cwd()))
    total = time.perf_counter() - t0
    summary = report.extra["explore"]
    print(f"{script} [{task}] explore {n} seed {seed}: total {total:.1f} s, ran {summary['ran']}, "
          f"shrinking runs {summary['shrink_runs']}, conformant {report.conformant}")
    for s in report.scenarios:
        if s.status == "ran":
            cfg = s.details.get("explore", {}).get("traincfg", {})
            what = (f"n_class {cfg.get('n_class')} load_size {cfg.get('load_size')} "
                    f"batch {cfg.get('batch_size')} epochs {cfg.get('epochs')}" if cfg else "")
            print(f"  {s.name:12s} script {s.details.get('script_seconds', 0):6.1f} s  {what}")
    for f in report.errors:
        print(f"  {f.rule} [{f.scenario}] {f.message[:150]}")


def main() -> None:
    """Parse the options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--script", help="also explore this train.py (or folder) for real")
    parser.add_argument("--task", choices=TASKS, default="segmentation")
    args = parser.parse_args()
    engine_figures(args.examples, args.seed)
    if args.script:
        script_figures(args.script, args.task, args.examples, args.seed)


if __name__ == "__main__":
    main()
