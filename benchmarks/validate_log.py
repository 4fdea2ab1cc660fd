"""Benchmark of trainlog validation, each figure next to its anchor, measured in the same run, interleaved.

(a) The harness checks output/trainlog.json at every progress line, each time the whole file. One
    ``TrainlogChecker.check`` at epoch 1,000 of a 16-class log (json.dumps(log, indent=4), as in the guide,
    12 MB) against one at epoch 1 (anchor). Goal: at most 2x.
(b) Whole-file ``validate_trainlog`` of that 1,000-epoch log against a plain jsonschema pass over the same
    file (anchor: what the schema alone costs). Goal: at most 0.15x (it was 0.11x).
(c) ``pie-check validate-log`` on a 50 MB log, in a child process: wall time and peak memory (ru_maxrss)
    against the file's size, next to a child doing a plain ``json.loads`` of the same file. Two layouts of
    the same 16-class log: indent=4 (the guide's) and compact (json.dumps' default). Goal: under 5 s and
    under 3x the file's size, for both.

Each comparison runs as pairs, the project and its anchor back to back (the order alternating), and
prints the median of the pairs' ratios with the machine's load before and after.

Run: python benchmarks/validate_log.py [--epochs 1000] [--classes 16] [--pairs 31] [--big-mb 50]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pie_conformance.trainlog import TrainlogChecker  # noqa: E402
from pie_conformance.validate import validate_trainlog  # noqa: E402

METRICS = ("precision", "recall", "score", "IoU", "loss")
GOAL_GROWTH = 2.0  # (a) check at epoch 1,000 / at epoch 1
GOAL_WHOLE = 0.15  # (b) validate_trainlog / plain jsonschema pass
GOAL_BIG_S = 5.0  # (c) seconds
GOAL_BIG_MEMORY = 3.0  # (c) peak memory / file size


def make_entry(k: int, names: list[str], rng: random.Random) -> dict[str, Any]:
    """One epoch entry as the guide writes it: class "all" with the loss, then every class."""

    def values(with_loss: bool) -> dict[str, float]:
        out = {m: rng.random() for m in METRICS if m != "loss"}
        if with_loss:
            out["loss"] = rng.random() * 3
        return out

    def split() -> list[dict[str, Any]]:
        per_class = [{"class": n, "values": values(False)} for n in names]
        return [{"class": "all", "values": values(True)}, *per_class]

    return {"epoch": str(k), "train": split(), "valid": split()}


class Snapshots:
    """The file after k epochs, built from pre-encoded entries exactly as json.dumps(log, indent=4)."""

    def __init__(self, epochs: int, classes: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.names = ["background"] + [f"class{i}" for i in range(1, classes)]
        self.cfg = {"training_id": "57fc8152-c4f5-44b5-a25d-bc043a624d4b", "class_name": ",".join(self.names)}
        self.entries = [make_entry(k, self.names, rng) for k in range(1, epochs + 1)]
        # Entries sit at depth 2 of the document: indent their own dump by two levels.
        pad = " " * 8
        self.encoded = [(pad + json.dumps(e, indent=4).replace("\n", "\n" + pad)).encode()
                        for e in self.entries]
        self.best = {m: rng.random() for m in METRICS if m != "loss"}

    def log(self, k: int) -> dict[str, Any]:
        """The parsed log after k epochs."""
        return {
            "training_id": self.cfg["training_id"],
            "create_time": "2021-05-14 09:10:38",
            "description": {m: m for m in METRICS},
            "epochs": self.entries[:k],
            "best": self.best if k else "",
            "end_time": "",
        }

    def raw(self, k: int) -> bytes:
        """The file after k epochs."""
        head, tail = json.dumps({**self.log(k), "epochs": ["@@"]}, indent=4).encode().split(b'        "@@"')
        return head + b",\n".join(self.encoded[:k]) + tail


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def load() -> str:
    """The machine's load averages and CPU count, as printed."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPU(s)"


def verdict(ok: bool) -> str:
    """MET or MISSED."""
    return "MET" if ok else "MISSED"


Timer = Callable[[int], float]  # pair number -> seconds


def pairs(count: int, project: Timer, anchor: Timer) -> list[tuple[float, float]]:
    """``count`` (project, anchor) timings, back to back, the order alternating from pair to pair."""
    out = []
    for i in range(count):
        if i % 2:
            a = anchor(i)
            p = project(i)
        else:
            p = project(i)
            a = anchor(i)
        out.append((p, a))
    return out


def summary(results: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(median project, median anchor, median of the pairs' ratios)."""
    return (statistics.median(p for p, _ in results), statistics.median(a for _, a in results),
            statistics.median(p / a for p, a in results))


# -- (a) ------------------------------------------------------------------------------------------------


def incremental(snaps: Snapshots, epochs: int, count: int) -> bool:
    """Print (a): check() at epoch 1 (a fresh run each pair) against the last ``count`` lines of a run."""
    late = TrainlogChecker(snaps.cfg)
    first_late = epochs - count + 1
    late.check(snaps.raw(first_late - 1), progress_k=first_late - 1)  # the run so far, already checked
    early_raw = (snaps.raw(0), snaps.raw(1))
    big = snaps.raw(epochs)

    def early(_: int, touch: bool = False) -> float:
        checker = TrainlogChecker(snaps.cfg)
        checker.check(early_raw[0], progress_k=0)
        if touch:  # as reading a file the size of the late snapshot leaves the caches
            bytes(bytearray(big))
        return timed(checker.check, early_raw[1], progress_k=1)

    def at_late(i: int) -> float:
        raw = snaps.raw(first_late + i)  # built outside the timing, released after it
        return timed(late.check, raw, progress_k=first_late + i)

    p, a, ratio = summary(pairs(count, at_late, early))
    ok = ratio <= GOAL_GROWTH
    print(f"(a) incremental check at a progress line, {count} pairs")
    print(f"    check() at epoch 1 (anchor):            {a * 1e3:8.3f} ms")
    print(f"    check() at epochs {first_late}..{epochs}:          {p * 1e3:8.3f} ms")
    print(f"    ratio (median of pairs):                {ratio:8.2f}x   "
          f"goal <= {GOAL_GROWTH:.0f}x: {verdict(ok)}")
    # The late snapshot is 12 MB, read (here: built) just before the check: the caches are cold. The same
    # epoch-1 check after touching as many bytes shows how much of the ratio that is, not the checker.
    late = TrainlogChecker(snaps.cfg)
    late.check(snaps.raw(first_late - 1), progress_k=first_late - 1)
    p2, a2, ratio2 = summary(pairs(count, at_late, lambda i: early(i, touch=True)))
    print(f"    check() at epoch 1 after {len(big) / 1e6:.0f} MB read:    {a2 * 1e3:8.3f} ms   "
          f"(epochs {first_late}..{epochs}: {p2 * 1e3:.3f} ms, ratio {ratio2:.2f}x: the rest of the growth)")
    compared = TrainlogChecker.VERIFY_HEAD + TrainlogChecker.VERIFY_BOUNDARY + TrainlogChecker.VERIFY_SWEEP
    print(f"    bytes compared per line at epoch {epochs}: about {compared / 1024:.0f} KiB plus the new "
          f"entry, of {len(snaps.raw(epochs)) / 1e6:.1f} MB")
    return ok


# -- (b) ------------------------------------------------------------------------------------------------


def whole_file(snaps: Snapshots, epochs: int, count: int) -> bool:
    """Print (b): validate_trainlog against a plain jsonschema pass, same file."""
    from jsonschema import Draft202012Validator

    from pie_conformance.schemas import load_schema

    validator = Draft202012Validator(load_schema("trainlog"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trainlog.json"
        path.write_bytes(snaps.raw(epochs))
        report = validate_trainlog(path, snaps.cfg)  # warm: imports
        assert report.findings == (), report.findings[:3]

        def project(_: int) -> float:
            return timed(validate_trainlog, path, snaps.cfg)

        def plain(_: int) -> float:
            return timed(lambda: validator.validate(json.loads(path.read_bytes())))

        p, a, ratio = summary(pairs(count, project, plain))
    ok = ratio <= GOAL_WHOLE
    print(f"(b) whole-file validation, {epochs} epochs, {count} pairs")
    print(f"    plain jsonschema pass (anchor, shape only): {a:8.3f} s")
    print(f"    validate_trainlog (LOG002-LOG010):          {p:8.3f} s")
    print(f"    ratio (median of pairs):                    {ratio:8.2f}x   "
          f"goal <= {GOAL_WHOLE}x: {verdict(ok)}")
    return ok


# -- (c) ------------------------------------------------------------------------------------------------


# Linux counts in a child's ru_maxrss the resident set of the process it was forked from (the memory map
# it had until exec): a child of this process, which holds the logs it generated, would report at least
# this process's size. A small launcher starts the child instead, and reports its figures.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
elapsed = time.perf_counter() - started
error = proc.stderr.read().decode(errors="replace")
print(json.dumps([elapsed, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status), error[-2000:]]))
"""


def child(args: list[str]) -> tuple[float, int]:
    """Run ``python args`` with this checkout first on the path: (wall seconds, peak resident bytes).

    The time runs from the start to the exit of that process alone (the launcher's own start is not in it).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, *args], capture_output=True,
                         text=True, env=env, check=True)
    elapsed, peak, code, error = json.loads(out.stdout)
    if code != 0:
        raise RuntimeError(f"{args} exited {code}: {error}")
    return float(elapsed), int(peak)  # ru_maxrss is in KiB on Linux, made bytes by the launcher


def _child_timer(peaks: list[int], args: list[str]) -> Timer:
    """A timer running ``python args`` as a child, its peak memory appended to ``peaks``."""

    def run(_: int) -> float:
        seconds, peak = child(args)
        peaks.append(peak)
        return seconds

    return run


def big_logs(snaps_per_mb: Callable[[int], Snapshots], big_mb: float, tmp: Path) -> list[tuple[str, Path]]:
    """The two layouts of a ``big_mb`` MB log, written to ``tmp``."""
    out = []
    for name, indent in (("indent=4", 4), ("compact", None)):
        one = len(json.dumps(snaps_per_mb(1).log(1), indent=indent).encode()) - 300
        epochs = int(big_mb * 1e6 / max(1, one))
        snaps = snaps_per_mb(epochs)
        log = snaps.log(epochs)
        log["end_time"] = "2021-05-15 09:10:38"
        path = tmp / f"trainlog-{name.replace('=', '')}.json"
        path.write_bytes(json.dumps(log, indent=indent).encode())
        out.append((f"{name}, {epochs} epochs", path))
    return out


def big_file(classes: int, big_mb: float, count: int) -> bool:
    """Print (c): validate-log in a child process against a child doing a plain json.loads."""
    ok = True
    print(f"(c) pie-check validate-log on a {big_mb:.0f} MB log, in a child process, {count} pairs")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        cfg_path = tmp / "traincfg.json"
        for label, path in big_logs(lambda n: Snapshots(n, classes, seed=1), big_mb, tmp):
            cfg_path.write_text(json.dumps(Snapshots(1, classes).cfg), encoding="utf-8")
            size = path.stat().st_size
            memory: dict[str, list[int]] = {"project": [], "anchor": []}
            project = _child_timer(memory["project"], ["-m", "pie_conformance", "validate-log", str(path),
                                                       "--traincfg", str(cfg_path), "--final"])
            anchor = _child_timer(memory["anchor"],
                                  ["-c", f"import json; json.loads(open({str(path)!r}, 'rb').read())"])
            p, a, ratio = summary(pairs(count, project, anchor))
            peak, plain_peak = statistics.median(memory["project"]), statistics.median(memory["anchor"])
            fast, small = p < GOAL_BIG_S, peak < GOAL_BIG_MEMORY * size
            ok = ok and fast and small
            print(f"    {label}: {size / 1e6:.1f} MB")
            print(f"      plain json.loads (anchor): {a:6.2f} s, peak {plain_peak / 1e6:6.0f} MB "
                  f"({plain_peak / size:.1f}x the file)")
            print(f"      validate-log:              {p:6.2f} s, peak {peak / 1e6:6.0f} MB "
                  f"({peak / size:.1f}x the file); {ratio:.1f}x the plain load's time")
            print(f"      goal < {GOAL_BIG_S:.0f} s: {verdict(fast)}; "
                  f"goal < {GOAL_BIG_MEMORY:.0f}x the file: {verdict(small)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit status 0 when every goal is met."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--classes", type=int, default=16)
    p.add_argument("--pairs", type=int, default=31, help="pairs for (a)")
    p.add_argument("--whole-pairs", type=int, default=3, help="pairs for (b)")
    p.add_argument("--big-pairs", type=int, default=3, help="pairs for (c), per layout")
    p.add_argument("--big-mb", type=float, default=50.0)
    p.add_argument("--skip", action="append", choices=["a", "b", "c"], default=[], help="leave a part out")
    args = p.parse_args(argv)

    started = time.perf_counter()
    print(load())
    snaps = Snapshots(args.epochs, args.classes)
    assert snaps.raw(3) == json.dumps(snaps.log(3), indent=4).encode(), "layout differs from json.dumps"
    size = len(snaps.raw(args.epochs))
    print(f"log: {args.epochs} epochs, {args.classes} classes, {size / 1e6:.1f} MB (json.dumps indent=4)")
    results = []
    if "a" not in args.skip:
        results.append(incremental(snaps, args.epochs, args.pairs))
    if "b" not in args.skip:
        results.append(whole_file(snaps, args.epochs, args.whole_pairs))
    if "c" not in args.skip:
        results.append(big_file(args.classes, args.big_mb, args.big_pairs))
    print(f"{load()}; {time.perf_counter() - started:.0f} s in all")
    print(f"verdict: {'every goal MET' if all(results) else 'a goal MISSED'}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
