"""Confusion-matrix metrics (precision, recall, F1 `score`, IoU; per class and averaged), early stopping."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = 255) -> torch.Tensor:
    """Rows: true class, columns: predicted class; pixels labelled ``ignore_index`` are left out.

    Stays on the tensors' device (int64), so accumulating it costs no host-device synchronisation.
    """
    target = target.reshape(-1).long()
    pred = pred.reshape(-1).long()
    valid = target != ignore_index
    # Ignored pixels land in an extra bin that is cut off: no boolean indexing, so no device sync.
    flat = torch.where(valid, target * num_classes + pred, torch.full_like(target, num_classes * num_classes))
    counts = torch.bincount(flat, minlength=num_classes * num_classes + 1)
    return counts[: num_classes * num_classes].reshape(num_classes, num_classes)


@dataclass(frozen=True)
class ClassScores:
    """Per-class precision, recall, F1 (`score`) and IoU, with their means over the classes that occur."""

    precision: list[float]
    recall: list[float]
    score: list[float]
    iou: list[float]
    present: list[bool]  # the class is in the ground truth or in the predictions

    def mean(self, values: list[float]) -> float:
        """Average over present classes (0.0 when none is)."""
        chosen = [v for i, v in enumerate(values) if self.present[i]]
        return float(sum(chosen) / len(chosen)) if chosen else 0.0

    def overall(self) -> dict[str, float]:
        """The class-averaged values trainlog.json reports under class ``all``."""
        return {
            "precision": self.mean(self.precision),
            "recall": self.mean(self.recall),
            "score": self.mean(self.score),
            "IoU": self.mean(self.iou),
        }

    def of_class(self, index: int) -> dict[str, float]:
        """One class's values."""
        return {
            "precision": self.precision[index],
            "recall": self.recall[index],
            "score": self.score[index],
            "IoU": self.iou[index],
        }


def _ratio(num: float, den: float) -> float:
    # 0/0 (a class absent from both truth and prediction) counts as 0, keeping every value finite.
    return float(num / den) if den > 0 else 0.0


def scores(cm: torch.Tensor) -> ClassScores:
    """Per-class metrics of a confusion matrix (rows truth, columns prediction)."""
    matrix = cm.double().cpu()
    tp = matrix.diag()
    truth = matrix.sum(dim=1)
    predicted = matrix.sum(dim=0)
    precision, recall, f1, iou, present = [], [], [], [], []
    for i in range(matrix.shape[0]):
        p = _ratio(tp[i].item(), predicted[i].item())
        r = _ratio(tp[i].item(), truth[i].item())
        precision.append(p)
        recall.append(r)
        f1.append(_ratio(2 * p * r, p + r))
        iou.append(_ratio(tp[i].item(), truth[i].item() + predicted[i].item() - tp[i].item()))
        present.append(bool(truth[i].item() > 0 or predicted[i].item() > 0))
    return ClassScores(precision, recall, f1, iou, present)


def finite(value: float) -> float:
    """A float safe for strict JSON: NaN and infinities become 0.0."""
    value = float(value)
    return value if math.isfinite(value) else 0.0


class EarlyStopping:
    """Stop when the validation score has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, patience: int = 5, min_delta: float = 1e-4) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.stale = 0

    def update(self, score: float, epoch: int) -> bool:
        """Record this epoch's score; True when it is the best so far."""
        if self.best is None or score > self.best + self.min_delta:
            self.best, self.best_epoch, self.stale = score, epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` epochs in a row brought no improvement."""
        return self.stale >= self.patience
