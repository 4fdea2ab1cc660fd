"""A synthetic kept folder, as ``pie-check run --keep`` leaves it, without running a script.

It serves the size benchmark (a 100-epoch run), the report's tests, and anyone who wants to see the report.
The files are written with the harness's own writers, so they follow the kept-folder format exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pie_conformance.facts import ProgressLine
from pie_conformance.findings import Finding, Report, ScenarioResult, Severity
from pie_conformance.kept import DATASET_FILE, FORMAT, RunFile, write_report_files, write_run_file

DEFAULT_CLASSES = (
    ("background", 0, (0, 0, 0)),
    ("building", 100, (255, 0, 0)),
    ("water", 150, (0, 0, 255)),
    ("road", 255, (255, 255, 255)),
)
METRICS = {"precision": "精确度", "recall": "召回率", "score": "F1分数", "loss": "损失"}


def _pictures(
    size: tuple[int, int], classes: Sequence[tuple[str, int, tuple[int, int, int]]], epoch: int, epochs: int
) -> dict[str, bytes]:
    """image.png and label.png (the same every epoch), pred.png (closer to the label each epoch)."""
    import io

    import numpy as np
    from PIL import Image

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(7)
    image = np.stack([(xx * 255 // max(1, w - 1)), (yy * 255 // max(1, h - 1)), ((xx + yy) % 256)], axis=-1)
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    colours = np.array([c for _, _, c in classes], dtype=np.uint8)
    centres = [(w * (i + 1) // (len(classes) + 1), h // 2) for i in range(len(classes) - 1)]

    def blobs(grow: float) -> np.ndarray:
        idx = np.zeros((h, w), dtype=np.int64)
        for i, (cx, cy) in enumerate(centres, start=1):
            r = min(w, h) / (2.5 * len(classes)) * grow
            idx[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = i
        return colours[idx]

    label = blobs(1.0)
    # The prediction grows from small blobs to the label's size as training goes on.
    pred = blobs(0.3 + 0.7 * epoch / max(1, epochs))
    out = {}
    for name, arr in (("image.png", image), ("label.png", label), ("pred.png", pred)):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        out[name] = buf.getvalue()
    return out


def _trainlog(
    training_id: str, epochs: int, classes: Sequence[str], metrics: Mapping[str, str]
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for e in range(1, epochs + 1):
        t = e / epochs

        def values(shift: float, t: float = t) -> dict[str, float]:
            ratio = round(min(1.0, max(0.0, 0.2 + 0.7 * t - shift)), 4)
            return {k: (round(1.0 - ratio, 4) if k == "loss" else ratio) for k in metrics}

        train = [{"class": "all", "values": values(-0.05)}]
        valid = [{"class": "all", "values": values(0.0)}]
        for i, name in enumerate(classes):
            train.append({"class": name, "values": values(0.03 * i - 0.05)})
            valid.append({"class": name, "values": values(0.03 * i)})
        entries.append({"epoch": str(e), "train": train, "valid": valid})
    best = {k: entries[-1]["valid"][0]["values"][k] for k in metrics}
    return {
        "training_id": training_id,
        "create_time": "2026-01-01 08:00:00",
        "end_time": "2026-01-01 09:00:00",
        "description": dict(metrics),
        "epochs": entries,
        "best": best,
    }


def make_kept_run(
    root: str | Path,
    *,
    epochs: int = 100,
    size: tuple[int, int] = (512, 512),
    classes: Sequence[tuple[str, int, tuple[int, int, int]]] = DEFAULT_CLASSES,
    metrics: Mapping[str, str] = METRICS,
    findings: Sequence[Finding] = (),
    scenario: str = "baseline",
    stderr: str = "",
    returncode: int = 0,
    extra_pictures: Mapping[str, bytes] | None = None,
    seconds_per_epoch: float = 1.5,
) -> Path:
    """Write a kept folder of a segmentation run with ``epochs`` epochs into ``root`` (created)."""
    root = Path(root)
    run_dir = root / scenario
    work = run_dir / "work"
    (work / "output" / "files").mkdir(parents=True, exist_ok=True)
    labels = [
        {"class_name": n, "class_value": v, "class_title": n, "class_color": ",".join(map(str, c))}
        for n, v, c in classes
    ]
    traincfg: dict[str, Any] = {
        "training_id": "00000000-0000-4000-8000-000000000001",
        "dataset_id": "00000000-0000-4000-8000-00000000000d",
        "resume_path": "",
        "class_name": ",".join(n for n, _, _ in classes),
        "label": json.dumps(labels, ensure_ascii=False),
        "n_class": str(len(classes) - 1),
        "load_size": f"{size[0]},{size[1]}",
        "model_name": "linknet34",
        "learning_rate": 0.001,
        "epochs": epochs,
        "batch_size": 2,
        "auto_termination": 0,
        "gpu_num": 0,
    }
    (work / "traincfg.json").write_text(json.dumps(traincfg, ensure_ascii=False), encoding="utf-8")
    class_names = [n for n, _, _ in classes if n != "background"]
    lines = []
    for e in range(1, epochs + 1):
        snap = run_dir / "snapshots" / f"{e:04d}" / "output"
        (snap / "picture").mkdir(parents=True, exist_ok=True)
        for name, data in _pictures(size, classes, e, epochs).items():
            (snap / "picture" / name).write_bytes(data)
        for name, data in (extra_pictures or {}).items():
            (snap / "picture" / name).write_bytes(data)
        log = _trainlog(str(traincfg["training_id"]), e, class_names, metrics)
        (snap / "trainlog.json").write_text(json.dumps(log, ensure_ascii=False), encoding="utf-8")
        lines.append(
            ProgressLine(
                line=2 * e,
                text=f"[Process: {e}/{epochs}]",
                k=e,
                n=epochs,
                exact=True,
                elapsed=3.0 + seconds_per_epoch * e,
            )
        )
    end = 3.5 + seconds_per_epoch * epochs
    run = RunFile(
        mode="full",
        returncode=returncode,
        frozen_time=0.01 * epochs,
        script_time=end - 0.01 * epochs,
        exit_elapsed=end,
        eof_elapsed=end,
        progress=tuple(lines),
        stdout_bytes=40 * epochs,
        stdout_lines=2 * epochs,
        stderr_tail="\n".join(stderr.splitlines()[-40:]),
        stderr_bytes=len(stderr.encode("utf-8")),
        holds={i: 0.01 for i in range(1, epochs + 1)},
    )
    write_run_file(run_dir, run)
    details = {
        "exit_status": returncode,
        "timed_out": False,
        "progress_lines": epochs,
        "last_epoch": epochs,
        "script_seconds": round(end, 3),
        "frozen_seconds": 0.01 * epochs,
        "run_folder": str(run_dir),
    }
    if stderr:
        details["stderr_tail"] = stderr
    report = Report(
        kind="run",
        subject=str(work / "train.py"),
        findings=tuple(findings),
        task="segmentation",
        scenarios=(ScenarioResult(scenario, "ran", None, details),),
        timings={"total": round(end + 2, 3), "script": round(end, 3)},
    )
    write_report_files(root, report, None)
    dataset = {
        "format": FORMAT,
        "task": "segmentation",
        "dataset_id": traincfg["dataset_id"],
        "prefix": f"devel/kit/dataset/segmentation/{traincfg['dataset_id']}/",
        "size": list(size),
        "image_format": "png",
        "seed": 0,
        "classes": labels,
        "files": {"train/images/0.png": 1000, "train/labels/0.png": 100, "valid/images/0.png": 1000},
    }
    (root / DATASET_FILE).write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    return root


def sample_finding(
    rule: str = "OUT007",
    message: str = "expected only class colours, got 3 others",
    hint: str | None = "resize label and pred with nearest-neighbour resampling",
    epoch: int | None = 1,
    path: str | None = "output/picture/label.png",
) -> Finding:
    """A finding as the harness would report it, for the sample folder."""
    from pie_conformance.rules import CATALOGUE_BY_ID

    severity = CATALOGUE_BY_ID.get(rule, (Severity.ERROR, ""))[0]
    return Finding(
        rule=rule, severity=severity, message=message, scenario="baseline", epoch=epoch, path=path, hint=hint
    )
