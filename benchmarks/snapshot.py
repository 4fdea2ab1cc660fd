"""What a snapshot of output/ costs as a run goes on: time and disk per snapshot, at epoch 1 and later.

The output folder holds what a training script writes: three pictures (rewritten every epoch), a trainlog that
grows by 2 KB per epoch, 200 files a script left there once (unchanged), and weights of ``--weights-mib`` MiB,
either rewritten every epoch or left unchanged after the first. Each epoch one snapshot is taken, as at a
progress line. Prints, for this kit and (with ``--against REV``) for the snapshot module of an earlier commit
loaded from git, the median milliseconds and the new bytes on disk per snapshot over the first and the last
tenth of the epochs.

    python benchmarks/snapshot.py [--epochs 100] [--weights-mib 20] [--against b287c0f]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from pie_conformance.harness import snapshot as current

ROOT = Path(__file__).resolve().parents[1]


def load_old(rev: str, into: Path) -> ModuleType:
    """The snapshot module of commit ``rev``."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:pie_conformance/harness/snapshot.py"],
                          capture_output=True, check=True).stdout
    path = into / "old_snapshot.py"
    path.write_bytes(text)
    spec = importlib.util.spec_from_file_location("old_snapshot", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_snapshot"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _blocks(folder: Path) -> int:
    """Bytes on disk of the files below ``folder``, each inode counted once (hard links share theirs)."""
    seen: set[int] = set()
    total = 0
    for p in folder.rglob("*"):
        st = p.lstat()
        if p.is_file() and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


def run(module: Any, root: Path, epochs: int, weights_mib: int,
        rewrite: bool) -> tuple[list[float], list[int]]:
    """Milliseconds and new disk bytes of each of ``epochs`` snapshots."""
    work = root / "work"
    out = work / "output"
    (out / "picture").mkdir(parents=True)
    (out / "files").mkdir()
    (out / "junk").mkdir()
    for i in range(200):
        (out / "junk" / f"left{i:03d}.txt").write_bytes(os.urandom(2048))
    memo: dict[str, Any] = {}
    times: list[float] = []
    disk: list[int] = []
    used = 0
    for k in range(1, epochs + 1):
        for name in ("image.png", "label.png", "pred.png"):
            (out / "picture" / name).write_bytes(os.urandom(50_000))
        if rewrite or k == 1:
            (out / "files" / "model.th").write_bytes(os.urandom(weights_mib << 20))
        (out / "trainlog.json").write_bytes(b"x" * (2048 * k))
        t = time.perf_counter()
        module.take_snapshot(work, root / "snapshots" / f"{k:04d}", index=k, k=k, n=epochs, line=k,
                             elapsed=0.0, before={}, known_outside=memo)
        times.append((time.perf_counter() - t) * 1000)
        now = _blocks(root / "snapshots")
        disk.append(now - used)
        used = now
    return times, disk


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--weights-mib", type=int, default=20)
    parser.add_argument("--against", metavar="REV", help="also measure the snapshot module of this commit")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.epochs} epochs, "
          f"weights {args.weights_mib} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        modules: dict[str, Any] = {"this kit": current}
        if args.against:
            modules[args.against] = load_old(args.against, Path(tmp))
        tenth = max(1, args.epochs // 10)
        for rewrite in (True, False):
            what = "weights rewritten every epoch" if rewrite else "weights unchanged after epoch 1"
            for name, module in modules.items():
                root = Path(tmp) / f"{name}-{rewrite}".replace(" ", "_")
                times, disk = run(module, root, args.epochs, args.weights_mib, rewrite)
                first, last = times[:tenth], times[-tenth:]
                print(f"{what:>32} | {name:>9}: {statistics.median(first):7.1f} ms per snapshot at first, "
                      f"{statistics.median(last):7.1f} ms at the last tenth; new disk per snapshot "
                      f"{statistics.median(disk[1:] or disk) / 2**20:6.1f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
