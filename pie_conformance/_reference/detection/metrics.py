"""Detection metrics: VOC matching at IoU 0.5, precision, recall, F1, all-point AP per class; early stop."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Detections at or above this score count for P, R and F1 (and are drawn); AP uses every detection.
SCORE_THRESHOLD = 0.25
IOU_THRESHOLD = 0.5


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of [N,4] and [M,4] x1y1x2y2 boxes."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=-1)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point AP: area under the precision envelope (precision made monotone from the right)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def average_precision(tp: np.ndarray, scores: np.ndarray, positives: int) -> float:
    """AP of one class from per-detection TP flags (1/0) and scores; 0 when the class has no ground truth."""
    if positives <= 0 or len(tp) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(tp[order])
    false = np.cumsum(1 - tp[order])
    recall = hits / positives
    precision = hits / np.maximum(hits + false, 1e-12)
    return voc_ap(recall, precision)


def match_image(detections: np.ndarray, truth: np.ndarray, num_classes: int,
                iou_threshold: float = IOU_THRESHOLD) -> list[tuple[int, float, int]]:
    """VOC matching for one image: (class, score, 1 TP / 0 FP) per detection; difficult matches drop out.

    ``detections`` [K,6] (x1, y1, x2, y2, score, class); ``truth`` [M,6] (class, x1, y1, x2, y2, difficult).
    """
    results: list[tuple[int, float, int]] = []
    for cls in range(num_classes):
        dets = detections[detections[:, 5] == cls]
        gts = truth[truth[:, 0] == cls]
        if len(dets) == 0:
            continue
        dets = dets[np.argsort(-dets[:, 4], kind="stable")]
        used = np.zeros(len(gts), dtype=bool)
        overlaps = iou_matrix(dets[:, :4], gts[:, 1:5]) if len(gts) else np.zeros((len(dets), 0))
        for k, det in enumerate(dets):
            if overlaps.shape[1] == 0:
                results.append((cls, float(det[4]), 0))
                continue
            j = int(np.argmax(overlaps[k]))
            if overlaps[k, j] < iou_threshold:
                results.append((cls, float(det[4]), 0))
            elif gts[j, 5] > 0:
                continue  # a match to a difficult box counts neither way (VOC)
            elif not used[j]:
                used[j] = True
                results.append((cls, float(det[4]), 1))
            else:
                results.append((cls, float(det[4]), 0))  # a duplicate of a box already found
    return results


@dataclass
class DetectionMetrics:
    """Accumulates matches over images; ``summary()`` gives P, R, F1 and AP per class and their means."""

    num_classes: int
    matches: list[tuple[int, float, int]] = field(default_factory=list)
    positives: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.positives = np.zeros(self.num_classes, dtype=np.int64)

    def add(self, detections: np.ndarray, truth: np.ndarray) -> None:
        """One image: detections [K,6] (x1, y1, x2, y2, score, class), truth [M,6] (class, box, difficult)."""
        truth = truth[truth[:, 0] >= 0]
        assert self.positives is not None
        for cls in range(self.num_classes):
            self.positives[cls] += int(np.sum((truth[:, 0] == cls) & (truth[:, 5] <= 0)))
        self.matches.extend(match_image(detections, truth, self.num_classes))

    def per_class(self) -> list[dict[str, float]]:
        """P, R, F1_score (at SCORE_THRESHOLD) and AP for every class."""
        assert self.positives is not None
        table = np.asarray(self.matches, dtype=np.float64).reshape(-1, 3)
        rows = []
        for cls in range(self.num_classes):
            mine = table[table[:, 0] == cls]
            positives = int(self.positives[cls])
            confident = mine[mine[:, 1] >= SCORE_THRESHOLD]
            hits = float(confident[:, 2].sum())
            precision = hits / len(confident) if len(confident) else 0.0
            recall = hits / positives if positives else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            ap = average_precision(mine[:, 2], mine[:, 1], positives)
            rows.append({"P": precision, "R": recall, "F1_score": f1, "AP": ap})
        return rows

    def summary(self) -> dict[str, float]:
        """Means over the classes that have ground truth: P, R, F1_score and mAP (at IoU 0.5)."""
        assert self.positives is not None
        rows = self.per_class()
        present = [row for i, row in enumerate(rows) if self.positives[i] > 0]
        if not present:
            return {"P": 0.0, "R": 0.0, "F1_score": 0.0, "mAP": 0.0}
        return {
            "P": float(np.mean([r["P"] for r in present])),
            "R": float(np.mean([r["R"] for r in present])),
            "F1_score": float(np.mean([r["F1_score"] for r in present])),
            "mAP": float(np.mean([r["AP"] for r in present])),
        }


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
