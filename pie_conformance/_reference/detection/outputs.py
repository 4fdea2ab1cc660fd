"""What the platform collects each epoch: weights, pictures, trainlog.json (atomic), then progress."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class OutputDir:
    """``output/`` under the working directory: ``files/``, ``picture/`` and ``trainlog.json``."""

    def __init__(self, basedir: str) -> None:
        self.root = os.path.join(basedir, "output")
        self.files = os.path.join(self.root, "files")
        self.picture = os.path.join(self.root, "picture")
        os.makedirs(self.files, exist_ok=True)
        os.makedirs(self.picture, exist_ok=True)

    def weights_path(self, model_name: str) -> str:
        """``output/files/<model_name>.th``."""
        return os.path.join(self.files, f"{model_name}.th")


def atomic_write(path: str, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it over: no reader sees half a file."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def save_weights(state: Mapping[str, torch.Tensor], path: str) -> None:
    """The state dict as CPU tensors via ``torch.save``: ``torch.load(weights_only=True)`` works anywhere."""
    cpu = {name: tensor.detach().to("cpu").contiguous() for name, tensor in state.items()}
    buffer = io.BytesIO()
    torch.save(cpu, buffer)
    atomic_write(path, buffer.getvalue())


def png_bytes(array: np.ndarray) -> bytes:
    """H x W x 3 uint8 -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(array: np.ndarray, path: str) -> None:
    """Write an RGB picture atomically."""
    atomic_write(path, png_bytes(array))


def draw_boxes(image: np.ndarray, detections: np.ndarray, colors: Sequence[tuple[int, int, int]],
               width: int = 2) -> np.ndarray:
    """The image with one rectangle per detection row (x1, y1, x2, y2, score, class) in its class colour."""
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    pen = ImageDraw.Draw(picture)
    for x1, y1, x2, y2, _score, cls in detections.tolist():
        color = tuple(colors[int(cls)]) if 0 <= int(cls) < len(colors) else (255, 255, 0)
        pen.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=color, width=width)
    return np.asarray(picture)


def image_picture(chw: torch.Tensor) -> np.ndarray:
    """A [3,H,W] uint8 tensor -> H x W x 3 array."""
    return chw.permute(1, 2, 0).contiguous().cpu().numpy()


def now() -> str:
    """Local time in the platform's format."""
    return time.strftime(TIME_FORMAT, time.localtime())


class TrainLog:
    """``output/trainlog.json`` in the shape of the guide's section 3.5."""

    def __init__(self, path: str, training_id: str, description: Mapping[str, str]) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "training_id": training_id,
            "create_time": now(),  # fixed at the start; the platform shows it as the start of training
            "description": dict(description),
            "epochs": [],
            "best": "",
            "end_time": "",
        }

    def add_epoch(self, epoch: int, train: list[dict[str, Any]], valid: list[dict[str, Any]]) -> None:
        """Append one epoch's entries (``class: all`` first, then one per class)."""
        self.data["epochs"].append({"epoch": str(epoch), "train": train, "valid": valid})

    def set_best(self, values: Mapping[str, float]) -> None:
        """The validation values of the best epoch so far."""
        self.data["best"] = dict(values)

    def finish(self) -> None:
        """Mark the run finished (last epoch, or an early stop)."""
        self.data["end_time"] = now()

    def write(self) -> None:
        """Rewrite the file atomically; ``allow_nan=False`` guarantees strict JSON."""
        text = json.dumps(self.data, indent=4, ensure_ascii=False, allow_nan=False)
        atomic_write(self.path, text.encode("utf-8"))


def entry(name: str, values: Mapping[str, float]) -> dict[str, Any]:
    """One ``{"class": ..., "values": {...}}`` entry with plain floats."""
    return {"class": name, "values": {key: float(value) for key, value in values.items()}}


def progress(done: int, total: int) -> None:
    """The line the platform waits for; it uploads ``output/`` when it reads it, so it comes last."""
    print(f"[Process: {done}/{total}]", flush=True)
