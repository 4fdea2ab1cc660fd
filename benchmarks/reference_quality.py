"""Do the reference scripts learn? Train each on the kit's synthetic dataset for a fixed budget on CPU.

For each task this prints the validation curve read from ``output/trainlog.json``, the score of a trivial
predictor on the same validation split, and whether the last epoch clearly beats both the first epoch and
the trivial predictor. Scores: segmentation mIoU, change detection F1 of the change class, detection mAP@0.5.

    python benchmarks/reference_quality.py                 # all three tasks
    python benchmarks/reference_quality.py --task detection --epochs 40
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from pie_conformance.datasets import DatasetSpec, generate, read_voc
from pie_conformance.s3 import DatasetStore, MockS3Server, aiutils_env, registry_for

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "reference_scripts"
#: Per task: epochs, learning rate, batch size (the fixed budget), and how the score is named.
BUDGET: dict[str, dict[str, Any]] = {
    "segmentation": {"epochs": 12, "learning_rate": 0.001, "batch_size": 8, "metric": "mIoU"},
    "change_detection": {"epochs": 10, "learning_rate": 0.001, "batch_size": 8, "metric": "F1 (change)"},
    "detection": {"epochs": 30, "learning_rate": 0.002, "batch_size": 8, "metric": "mAP@0.5"},
}
#: "Clearly beats": the last epoch must exceed the first epoch and the trivial predictor by this margin.
MARGIN = 0.05


def load_module(task: str, name: str) -> ModuleType:
    """A module of a reference script folder under a unique name (the three folders reuse module names)."""
    path = SCRIPTS / task / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_ref_{task}_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def curve(task: str, log: dict[str, Any]) -> list[float]:
    """The validation score of every epoch of a trainlog."""
    scores = []
    for epoch in log["epochs"]:
        valid = epoch["valid"]
        if task == "segmentation":
            scores.append(float(valid[0]["values"]["IoU"]))
        elif task == "change_detection":
            changes = [float(e["values"]["score"]) for e in valid[2:]]  # entries after "all" and background
            scores.append(sum(changes) / len(changes))
        else:
            scores.append(float(valid[0]["values"]["mAP"]))
    return scores


def _label_array(body: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(body)) as image:
        return np.asarray(image)


def _valid_labels(dataset: Any) -> np.ndarray:
    return np.concatenate([_label_array(dataset.files[k]).ravel() for k in dataset.keys("valid", "labels")])


def trivial_score(task: str, dataset: Any) -> tuple[float, str]:
    """The best score of a predictor that ignores the image, on the validation split."""
    classes = dataset.classes
    if task == "segmentation":
        values = [c.value for c in classes]
        labels = _valid_labels(dataset)
        counts = np.array([(labels == v).sum() for v in values], dtype=np.float64)
        major = int(np.argmax(counts))
        # All pixels predicted as the majority class: its IoU is its share; other present classes score 0.
        present = counts > 0
        ious = np.where(np.arange(len(values)) == major, counts[major] / counts.sum(), 0.0)
        return float(ious[present].mean()), f"every pixel '{classes[major].name}'"
    if task == "change_detection":
        labels = _valid_labels(dataset)
        share = float(np.isin(labels, [c.value for c in classes[1:]]).mean())
        # Change everywhere: recall 1, precision = the change share (predicting no change scores 0).
        return 2 * share / (1 + share), "every pixel changed"
    metrics = load_module("detection", "metrics")
    names = [c.name for c in classes]
    sizes = []
    for key in dataset.keys("train", "labels"):
        _, boxes = read_voc(dataset.files[key])
        sizes += [(b.xmax - b.xmin, b.ymax - b.ymin) for b in boxes]
    mean_w, mean_h = np.mean(sizes, axis=0)
    width, height = dataset.spec.size
    prior = [width / 2 - mean_w / 2, height / 2 - mean_h / 2, width / 2 + mean_w / 2, height / 2 + mean_h / 2]
    result = metrics.DetectionMetrics(len(names))
    for key in dataset.keys("valid", "labels"):
        _, boxes = read_voc(dataset.files[key])
        rows = [[names.index(b.name), b.xmin, b.ymin, b.xmax, b.ymax, 0.0] for b in boxes]
        truth = np.array(rows, dtype=np.float64).reshape(-1, 6)
        guesses = np.array([[*prior, 1.0, float(c)] for c in range(len(names))]).reshape(-1, 6)
        result.add(guesses, truth)
    return result.summary()["mAP"], "one mean-size box per class at the centre"


def run_task(task: str, images: int, size: int, epochs: int | None, seed: int, threads: int) -> bool:
    """Train one reference script; print its curve and verdict; True when it clearly learned."""
    budget = dict(BUDGET[task])
    if epochs is not None:
        budget["epochs"] = epochs
    dataset = generate(DatasetSpec(task, train_images=images, valid_images=max(4, images // 2),
                                   size=(size, size), seed=seed))
    cfg = dataset.traincfg(epochs=budget["epochs"], learning_rate=budget["learning_rate"],
                           batch_size=budget["batch_size"])
    with tempfile.TemporaryDirectory(prefix=f"pie-quality-{task}-") as tmp, MockS3Server() as server:
        DatasetStore(server.endpoint_url).upload(dataset)
        work = Path(tmp) / "work"
        shutil.copytree(SCRIPTS / task, work, ignore=shutil.ignore_patterns("__pycache__", "output"))
        (work / "traincfg.json").write_text(json.dumps(cfg), encoding="utf-8")
        env = {**os.environ, **aiutils_env(server.endpoint_url, registry_for(dataset)),
               "OMP_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "train.py"], cwd=work, env=env, input=json.dumps(cfg),
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            print(f"{task}: train.py exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
            return False
        log = json.loads((work / "output" / "trainlog.json").read_text(encoding="utf-8"))
    scores = curve(task, log)
    trivial, how = trivial_score(task, dataset)
    learned = scores[-1] >= scores[0] + MARGIN and scores[-1] >= trivial + MARGIN
    print(f"\n== {task}: {images} training / {max(4, images // 2)} validation images, {size}x{size}, "
          f"{budget['epochs']} epochs, lr {budget['learning_rate']}, batch {budget['batch_size']}, "
          f"{seconds:.0f}s on CPU ({threads} thread(s))")
    print(f"validation {budget['metric']} by epoch: " + " ".join(f"{s:.3f}" for s in scores))
    print(f"first {scores[0]:.3f}  best {max(scores):.3f}  last {scores[-1]:.3f}  "
          f"trivial {trivial:.3f} ({how})  ->  {'LEARNS' if learned else 'DOES NOT CLEARLY LEARN'}")
    return learned


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 0 when every task learned."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(BUDGET), action="append",
                        help="task(s) to run (default: all)")
    parser.add_argument("--images", type=int, default=32, help="training images (validation gets half)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--epochs", type=int, default=None, help="override the per-task epoch budget")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the training process")
    args = parser.parse_args(argv)
    results = [run_task(task, args.images, args.size, args.epochs, args.seed, args.threads)
               for task in (args.task or ["segmentation", "change_detection", "detection"])]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
