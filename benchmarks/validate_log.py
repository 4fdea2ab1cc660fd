"""Benchmark of trainlog validation: incremental cost per epoch, and whole-file validation time.

(a) The harness checks output/trainlog.json at every progress line, each time the whole file. This
    measures one check at epoch 1 and at epoch 1,000 of a 16-class log (a script's json.dumps(log,
    indent=4), as in the guide): the cost must not grow with the epoch.
(b) Whole-file validation of the 1,000-epoch log with ``validate_trainlog``, next to a plain whole-document
    jsonschema pass over the same log (the slow way this design avoids).

Run: python benchmarks/validate_log.py [--epochs 1000] [--classes 16] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pie_conformance.trainlog import TrainlogChecker
from pie_conformance.validate import validate_trainlog

METRICS = ("precision", "recall", "score", "IoU", "loss")


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


def timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def incremental(snaps: Snapshots, at: int, steps: int) -> tuple[float, float]:
    """Median seconds of check() per progress line and of judging one entry, from epoch ``at`` on."""
    checker = TrainlogChecker(snaps.cfg)
    if at > 1:
        checker.check(snaps.raw(at - 1), progress_k=at - 1)  # the run so far, already checked
    calls, entries = [], []
    held: list[bytes] = []
    for k in range(at, at + steps):
        raw = snaps.raw(k)
        # Keep the snapshots alive, as a harness holding its copies does: releasing a 12 MB buffer costs
        # the allocator a few ms, which would otherwise be charged to whichever call drops it.
        held.append(raw)
        calls.append(timed(checker.check, raw, progress_k=k))
        entries.append(timed(checker._judge_entry, "", snaps.entries[k - 1]))
    return statistics.median(calls), statistics.median(entries)


def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--classes", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5, help="runs of the whole-file timings (median is printed)")
    args = p.parse_args(argv)

    snaps = Snapshots(args.epochs, args.classes)
    assert snaps.raw(3) == json.dumps(snaps.log(3), indent=4).encode(), "layout differs from json.dumps"
    size = len(snaps.raw(args.epochs))
    print(f"log: {args.epochs} epochs, {args.classes} classes, {size / 1e6:.1f} MB (json.dumps indent=4)")

    steps = 10
    call_1, entry_1 = incremental(snaps, 1, steps)
    last = args.epochs - steps + 1
    call_n, entry_n = incremental(snaps, last, steps)
    print("(a) incremental check at a progress line (median of 10 lines)")
    print(f"    check() at epoch 1..{steps}:            {call_1 * 1e3:8.3f} ms")
    print(f"    check() at epoch {last}..{args.epochs}:        {call_n * 1e3:8.3f} ms")
    print(f"    ratio epoch {args.epochs} / epoch 1:           {call_n / call_1:8.2f}")
    print(f"    judging one epoch entry, epoch 1:     {entry_1 * 1e3:8.3f} ms")
    print(f"    judging one epoch entry, epoch {args.epochs}:  {entry_n * 1e3:8.3f} ms"
          f"  (ratio {entry_n / entry_1:.2f})")
    # What remains of the file's size in a check: one memcmp proving the already-judged prefix unchanged.
    raw, prev = snaps.raw(args.epochs), snaps.raw(args.epochs - 1)
    cut = len(prev) - 10
    memcmp = statistics.median(timed(raw.startswith, memoryview(prev)[:cut]) for _ in range(20))
    print(f"    of which prefix comparison ({cut / 1e6:.1f} MB): {memcmp * 1e3:8.3f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trainlog.json"
        path.write_bytes(snaps.raw(args.epochs))
        validate_trainlog(path, snaps.cfg)  # warm: imports
        whole = statistics.median(timed(validate_trainlog, path, snaps.cfg) for _ in range(args.repeat))
        report = validate_trainlog(path, snaps.cfg)
        assert report.findings == (), report.findings[:3]

        from jsonschema import Draft202012Validator

        from pie_conformance.schemas import load_schema

        validator = Draft202012Validator(load_schema("trainlog"))

        def plain() -> None:
            validator.validate(json.loads(path.read_bytes()))

        plain_s = statistics.median(timed(plain) for _ in range(max(1, args.repeat // 2)))
    print(f"(b) whole-file validation, {args.epochs} epochs (median of {args.repeat})")
    print(f"    validate_trainlog (LOG002-LOG010):    {whole:8.3f} s")
    print(f"    plain jsonschema pass (shape only):   {plain_s:8.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
