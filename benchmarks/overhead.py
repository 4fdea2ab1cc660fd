"""What ``pie-check run`` adds to a script's own run, against the direct run of the same script.

Goal (issue 17): the harness overhead of one scenario is under 0.3 s, and the same at 1 and at 1,000 epochs
(here "the same": at most 0.1 s above the overhead at the fewest epochs measured), for a tiny script and for
the same script writing 20 MB of weights every epoch.

Anchor: the direct run of the same script (``python train.py`` in a fresh copy of its folder) on the same
dataset, served by a mock S3 as ``pie-check serve`` serves it (one ``pie-check serve`` process, started
before any timing), with the same traincfg (on stdin and as traincfg.json) and the environment the harness
gives a script (the aiUtils variables, HOME and TMPDIR in a fresh run folder, LANG, TZ, PYTHONUNBUFFERED,
PYTHONDONTWRITEBYTECODE, no GPU). Project: ``python -m pie_conformance run <folder> --task segmentation
--scenario baseline --epochs N --format json --output <file>``, a new process as a user runs it.

Both are timed as whole process trees, from the start to the exit of the last process of the tree: each runs
under a small launcher that makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``), so every
descendant, also one that outlives the command (a mock S3 stopped in a background thread, a daemon), comes
back to it; it reaps until none is left. For each script and epoch count, anchor and project run as a pair,
back to back, which one first alternating; the medians over the pairs of (project - anchor) and of
project / anchor are printed, with the report's own timings (where the harness spends its time), the
machine's load before and after, and a verdict per script.

Scripts: benchmarks/overhead_script (a numpy "model", 20 ms of "training" per epoch) and
benchmarks/overhead_weights (the same, writing 20 MB of weights every epoch).

    python benchmarks/overhead.py          # full: 1, 10, 100 and 1,000 epochs, 3 pairs each (an hour or
                                           #   more on a busy 2-core machine: 1,000 epochs of 20 MB weights
                                           #   are 20 GB written by the script, as much copied by the kit)
    python benchmarks/overhead.py --quick  # 1, 10 and 100 epochs, 2 pairs each
    python benchmarks/overhead.py --epochs 1 1000 --repeat 1 --scripts tiny
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "tiny": ROOT / "benchmarks" / "overhead_script",
    "weights-20MB": ROOT / "benchmarks" / "overhead_weights",
}
TASK, IMAGES, SIZE = "segmentation", 4, "64x64"  # what `pie-check run` serves by default
PHASES = ("script", "setup", "prepare", "frozen", "gate_wait", "after_exit")
GOAL_SECONDS, FLAT_SECONDS = 0.3, 0.1

# Runs one command as a child subreaper and reports when it started and when its last descendant exited.
LAUNCHER = textwrap.dedent(
    """
    import ctypes, json, os, subprocess, sys, time
    spec = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise SystemExit("prctl(PR_SET_CHILD_SUBREAPER) failed: errno %d" % ctypes.get_errno())
    stdin = open(spec["stdin"], "rb") if spec["stdin"] else subprocess.DEVNULL
    out = open(spec["stdout"], "wb")
    start = time.monotonic()
    main = subprocess.Popen(spec["argv"], cwd=spec["cwd"], env=spec["env"], stdin=stdin, stdout=out,
                            stderr=subprocess.STDOUT)
    status, main_end, reaped = None, None, 0
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        reaped += 1
        if pid == main.pid:
            status, main_end = os.waitstatus_to_exitcode(code), time.monotonic()
            main.returncode = status  # reaped here, not by Popen
    end = time.monotonic()
    print(json.dumps({"wall": end - start, "main": main_end - start, "status": status, "processes": reaped}))
    """
)


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _spread(values: list[float]) -> float:
    """Half the range of ``values``; infinite for a single value (no estimate of the noise)."""
    return (max(values) - min(values)) / 2 if len(values) > 1 else float("inf")


def _pm(value: float, spread: float) -> str:
    return f"{value:.2f} +- {spread:.2f}" if spread != float("inf") else f"{value:.2f} +- ?"


def _verdict(met: bool, missed: bool) -> str:
    return "MET" if met else "MISSED" if missed else "INCONCLUSIVE"


def _tree(argv: list[str], cwd: Path, env: dict[str, str], stdin: Path | None, log: Path) -> dict[str, Any]:
    """Run ``argv`` as a whole process tree: wall time to the last exit, the main process's, its status."""
    spec = {"argv": argv, "cwd": str(cwd), "env": env, "stdin": str(stdin or ""), "stdout": str(log)}
    done = subprocess.run([sys.executable, "-c", LAUNCHER, json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the launcher failed:\n{done.stderr[-2000:]}")
    result = dict(json.loads(done.stdout))
    if result["status"] != 0:
        sys.exit(f"{shlex.join(argv[:4])} ... exited with {result['status']}:\n"
                 + log.read_text(encoding="utf-8", errors="replace")[-3000:])
    return result


class _Served:
    """A ``pie-check serve`` process with the dataset the harness makes, and what a direct run needs of it."""

    def __init__(self, tmp: Path) -> None:
        self.traincfg_file, env_file = tmp / "served-traincfg.json", tmp / "served-env.sh"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pie_conformance", "serve", "--task", TASK, "--images", str(IMAGES),
             "--size", SIZE, "--seed", "0", "--env-file", str(env_file),
             "--traincfg", str(self.traincfg_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_kit_env(),
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("# serving on"):
                break
        else:
            sys.exit(f"pie-check serve did not start: {self.proc.communicate()[1][-2000:]}")
        self.exports: dict[str, str] = {}
        for line in env_file.read_text(encoding="utf-8").splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            if name != "PYTHONPATH":
                self.exports[name] = shlex.split(value)[0]

    def traincfg(self, epochs: int) -> dict[str, Any]:
        """The traincfg the harness gives its baseline run."""
        cfg = dict(json.loads(self.traincfg_file.read_text(encoding="utf-8")))
        cfg.update(epochs=epochs, gpu_num=0, auto_termination=0, resume_path="")
        return cfg

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=60)


def _kit_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def direct_run(served: _Served, script: Path, epochs: int, tmp: Path) -> dict[str, Any]:
    """The anchor: the script run directly, with what the harness would give it."""
    from pie_conformance.s3 import AIUTILS_PATH

    run = Path(tempfile.mkdtemp(dir=tmp, prefix="direct-"))
    work = run / "work"
    shutil.copytree(script, work, symlinks=False, ignore=shutil.ignore_patterns("output", "__pycache__"))
    (run / "home").mkdir()
    (run / "tmp").mkdir()
    cfg = served.traincfg(epochs)
    (work / "traincfg.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    (run / "stdin").write_text(json.dumps(cfg, ensure_ascii=False) + "\n", encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", "TZ": "CST-8",
        "HOME": str(run / "home"), "TMPDIR": str(run / "tmp"), "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1", "PYTHONPATH": AIUTILS_PATH, "CUDA_VISIBLE_DEVICES": "",
    }
    # The harness names the dataset in the traincfg, not in AI_DATASET_ID (that is the notebook's way).
    env |= {k: v for k, v in served.exports.items() if k != "AI_DATASET_ID"}
    result = _tree([sys.executable, "train.py"], work, env, run / "stdin", run / "log")
    shutil.rmtree(run, ignore_errors=True)
    return result


def kit_run(script: Path, epochs: int, tmp: Path) -> dict[str, Any]:
    """The project: ``pie-check run`` of the same script, one baseline scenario, as a new process."""
    run = Path(tempfile.mkdtemp(dir=tmp, prefix="kit-"))
    argv = [sys.executable, "-m", "pie_conformance", "run", str(script), "--task", TASK, "--scenario",
            "baseline", "--epochs", str(epochs), "--format", "json", "--output", str(run / "report.json")]
    result = _tree(argv, run, _kit_env(), None, run / "log")
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    if not report.get("conformant"):
        findings = json.dumps(report["findings"], indent=1)[:3000]
        sys.exit(f"the benchmark script is not conformant:\n{findings}")
    result["timings"] = report["timings"]
    result["sandbox"] = report.get("sandbox", {}).get("level", "?")
    shutil.rmtree(run, ignore_errors=True)
    return result


def main() -> int:
    """Measure the pairs and print the table and the verdicts."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1, 10 and 100 epochs, 2 pairs each")
    parser.add_argument("--epochs", type=int, nargs="+", default=None,
                        help="epoch counts (default 1 10 100 1000; quick: 1 10 100)")
    parser.add_argument("--repeat", type=int, default=None, help="pairs per figure (default 3; quick: 2)")
    parser.add_argument("--scripts", nargs="+", choices=sorted(SCRIPTS), default=list(SCRIPTS),
                        help="which scripts (default: both)")
    args = parser.parse_args()
    epoch_counts = args.epochs or ([1, 10, 100] if args.quick else [1, 10, 100, 1000])
    repeat = args.repeat or (2 if args.quick else 3)
    if min(epoch_counts) < 1 or repeat < 1:
        parser.error("epoch counts and --repeat must be at least 1")
    sys.path.insert(0, str(ROOT))
    load_before, started = _load(), time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before:.2f} at start; {repeat} pairs per "
          "figure, whole process trees, medians")
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="pie-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        served = _Served(tmp)
        try:
            print(f"{'script':<13} {'epochs':>6} {'direct s':>9} {'pie-check s':>12} {'overhead s':>15} "
                  f"{'ratio':>6}  {'tree tail s':>11}  " + " ".join(f"{p:>10}" for p in PHASES))
            for name in args.scripts:
                for epochs in epoch_counts:
                    pairs = []
                    for i in range(repeat):
                        order = ("direct", "kit") if i % 2 == 0 else ("kit", "direct")
                        got = {
                            side: direct_run(served, SCRIPTS[name], epochs, tmp) if side == "direct"
                            else kit_run(SCRIPTS[name], epochs, tmp)
                            for side in order
                        }
                        pairs.append(got)
                    row = {
                        "direct": statistics.median(p["direct"]["wall"] for p in pairs),
                        "kit": statistics.median(p["kit"]["wall"] for p in pairs),
                        "overhead": statistics.median(p["kit"]["wall"] - p["direct"]["wall"] for p in pairs),
                        # Half the range of the pairs' differences: how far the machine moves the figure.
                        "spread": _spread([p["kit"]["wall"] - p["direct"]["wall"] for p in pairs]),
                        "ratio": statistics.median(p["kit"]["wall"] / p["direct"]["wall"] for p in pairs),
                        # How long processes of the kit's tree lived after the command itself had exited.
                        "tail": statistics.median(p["kit"]["wall"] - p["kit"]["main"] for p in pairs),
                        "sandbox": pairs[0]["kit"]["sandbox"],
                    }
                    for phase in PHASES:
                        row[phase] = statistics.median(p["kit"]["timings"].get(phase, 0.0) for p in pairs)
                    rows[(name, epochs)] = row
                    print(f"{name:<13} {epochs:>6} {row['direct']:>9.2f} {row['kit']:>12.2f} "
                          f"{_pm(row['overhead'], row['spread']):>15} {row['ratio']:>6.2f}  "
                          f"{row['tail']:>11.2f}  "
                          + " ".join(f"{row[p]:>10.3f}" for p in PHASES), flush=True)
        finally:
            served.stop()
    load_after = _load()
    sandbox = {row["sandbox"] for row in rows.values()}
    print(f"sandbox level of the kit's runs: {', '.join(sorted(sandbox))} (--sandbox auto)")
    print("columns: tree tail = how long processes of the kit's tree lived after the command had exited; "
          "then the report's own timings: script (the script's time inside the kit, to compare with the "
          "direct run), setup (dataset, mock S3, weights helper), prepare, frozen (the script held for "
          "snapshots), gate_wait, after_exit (judging after the script's exit)")
    print("overhead: median of the pairs' differences +- half their range (the machine's noise; unknown "
          "with one pair); a verdict is MET or MISSED only when the noise cannot change it, else "
          "INCONCLUSIVE")
    for name in args.scripts:
        figures = {e: (rows[(name, e)]["overhead"], rows[(name, e)]["spread"]) for e in epoch_counts}
        lo = min(epoch_counts)
        worst = max(figures, key=lambda e: figures[e][0])
        verdict = _verdict(
            all(v + n < GOAL_SECONDS for v, n in figures.values()),
            any(v - n >= GOAL_SECONDS for v, n in figures.values()),
        )
        print(f"verdict {name}: overhead < {GOAL_SECONDS} s at every epoch count: {verdict} "
              f"(largest {_pm(*figures[worst])} s, at {worst} epochs)")
        if len(figures) > 1:
            base, base_noise = figures[lo]
            verdict = _verdict(
                all(v + n - (base - base_noise) <= FLAT_SECONDS for v, n in figures.values()),
                any(v - n - (base + base_noise) > FLAT_SECONDS for v, n in figures.values()),
            )
            growth = ", ".join(f"{e}: {v - base:+.2f} s" for e, (v, _n) in figures.items() if e != lo)
            print(f"verdict {name}: the same at every epoch count (at most {FLAT_SECONDS} s above {lo} "
                  f"epoch{'s' if lo > 1 else ''}): {verdict} ({growth})")
    print(f"load average {load_before:.2f} at start, {load_after:.2f} at end; took "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
