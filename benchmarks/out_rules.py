"""Cost of the OUT rules at one progress line, and of the weights inspector; prints figures.

Usage: python benchmarks/out_rules.py [--size 512] [--epochs 200] [--weights-mb 50]

Figures printed:
- the weights helper: time for start_inspector() to return, and until its first answer (torch import);
- the OUT rules at a progress line of a segmentation run at --size, for epoch 2 and for epoch --epochs
  (the second must cost the same: per-line work does not grow with the number of epochs);
- loading and digesting a state dict of about --weights-mb MiB in the helper;
- a colour census of a --size picture and of a 4096x4096 noise picture (the worst case the limits allow).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pie_conformance.facts import FileInfo, ProgressContext, Snapshot  # noqa: E402
from pie_conformance.harness.inspection import Inspection  # noqa: E402
from pie_conformance.harness.pictures import colour_census  # noqa: E402
from pie_conformance.harness.weights import start_inspector  # noqa: E402
from pie_conformance.rules import evaluate  # noqa: E402

OUT = [f"OUT{i:03d}" for i in range(1, 11)]
LABELS = [
    {"class_name": "background", "class_value": 0, "class_title": "bg", "class_color": "0,0,0"},
    {"class_name": "road", "class_value": 1, "class_title": "road", "class_color": "255,0,0"},
]


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _snapshot(root: Path, k: int, size: int, weights: Callable[[int], bytes]) -> Snapshot:
    rng = np.random.default_rng(k)
    mask = np.zeros((size, size, 3), dtype=np.uint8)
    mask[:, size // 3 :] = (255, 0, 0)
    mask[rng.integers(0, size, 50), rng.integers(0, size, 50)] = (0, 0, 0)  # new content every epoch
    files = {
        "output/picture/image.png": _png(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)),
        "output/picture/label.png": _png(mask),
        "output/picture/pred.png": _png(mask[::-1].copy()),
        "output/files/net.th": weights(k),
        "output/trainlog.json": b"{}",
    }
    infos = {}
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        infos[rel] = FileInfo(rel, len(data), k, hashlib.sha256(data).hexdigest())
    return Snapshot(index=k, k=k, n=k, line=k, elapsed=float(k), root=root, files=infos)


def _state_dict_bytes(mb: float) -> bytes:
    import torch

    n = int(mb * 1024 * 1024 / 4)
    buf = io.BytesIO()
    torch.save({"layer.weight": torch.randn(n), "layer.bias": torch.zeros(10)}, buf)
    return buf.getvalue()


def main() -> None:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--weights-mb", type=float, default=50.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    insp = start_inspector()
    t_start = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.th"
        tiny.write_bytes(_state_dict_bytes(0.001))
        insp.inspect(tiny)
        t_ready = time.perf_counter() - t0
        print(f"weights helper: start_inspector() returned in {t_start * 1000:.1f} ms; "
              f"first answer (torch imported) after {t_ready:.2f} s")

        big = Path(tmp) / "big.th"
        big.write_bytes(_state_dict_bytes(args.weights_mb))
        times = []
        for _ in range(3):
            t = time.perf_counter()
            r = insp.inspect(big)
            times.append(time.perf_counter() - t)
        assert r.ok, r.error
        print(f"weights helper: {big.stat().st_size / 2**20:.0f} MiB state dict loaded and digested in "
              f"{statistics.median(times) * 1000:.0f} ms (median of 3)")

        def weights(k: int) -> bytes:
            import torch

            buf = io.BytesIO()
            torch.save({"w": torch.full((2500,), float(k)), "b": torch.zeros(10)}, buf)
            return buf.getvalue()

        cfg = {"model_name": "net", "label": json.dumps(LABELS), "epochs": args.epochs}
        inspection = Inspection(insp)
        snaps = {}
        for k in (1, 2, args.epochs - 1, args.epochs):
            snaps[k] = _snapshot(Path(tmp) / f"s{k}", k, args.size, weights)
        for a, bk in ((1, 2), (args.epochs - 1, args.epochs)):
            ctx = ProgressContext(task="segmentation", traincfg=cfg, snapshot=snaps[bk], previous=snaps[a],
                                  inspector=inspection)
            t = time.perf_counter()
            found = list(evaluate(OUT, ctx, epoch=bk))
            took = time.perf_counter() - t
            print(f"OUT rules at epoch {bk:>4} ({args.size}x{args.size} segmentation): "
                  f"{took * 1000:6.1f} ms, findings: {[f.rule for f in found]}")
    insp.close()

    mask = np.zeros((args.size, args.size, 3), dtype=np.uint8)
    t = time.perf_counter()
    colour_census(mask, [(0, 0, 0), (255, 0, 0)])
    print(f"colour census, clean {args.size}x{args.size}: {(time.perf_counter() - t) * 1000:.1f} ms")
    noise = np.random.default_rng(0).integers(0, 255, (4096, 4096, 3), dtype=np.uint8)
    t = time.perf_counter()
    colour_census(noise, [(0, 0, 0), (255, 0, 0)])
    print(f"colour census, 4096x4096 noise (worst case): {(time.perf_counter() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
