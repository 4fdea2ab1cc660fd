"""Metrics of the reference scripts against hand-worked values."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ref_support import load_ref

CM = torch.tensor([[5, 1, 0], [2, 3, 1], [0, 0, 4]])


@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_confusion_matrix_scores_match_hand_worked_values(task: str) -> None:
    metrics = load_ref(task, "metrics")
    scores = metrics.scores(CM)
    # IoU = TP / (row + column - TP): 5/(6+7-5), 3/(6+4-3), 4/(4+5-4).
    assert scores.iou == pytest.approx([0.625, 3 / 7, 0.8])
    assert scores.iou[1] == pytest.approx(0.4286, abs=1e-4)
    # precision = TP / column, recall = TP / row.
    assert scores.precision == pytest.approx([5 / 7, 3 / 4, 4 / 5])
    assert scores.recall == pytest.approx([5 / 6, 3 / 6, 4 / 4])
    f1 = [2 * p * r / (p + r) for p, r in zip(scores.precision, scores.recall, strict=True)]
    assert scores.score == pytest.approx(f1)
    overall = scores.overall()
    assert overall["IoU"] == pytest.approx((0.625 + 3 / 7 + 0.8) / 3)
    assert scores.of_class(2) == pytest.approx({"precision": 0.8, "recall": 1.0, "score": 8 / 9, "IoU": 0.8})


@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_confusion_matrix_from_pixels_skips_ignored(task: str) -> None:
    metrics = load_ref(task, "metrics")
    target = torch.tensor([[0, 1, 2, 255], [2, 2, 1, 0]])
    pred = torch.tensor([[0, 2, 2, 1], [2, 0, 1, 0]])
    cm = metrics.confusion_matrix(pred, target, 3, ignore_index=255)
    assert cm.tolist() == [[2, 0, 0], [0, 1, 1], [1, 0, 2]]
    assert int(cm.sum()) == 7


@pytest.mark.parametrize("task", ["segmentation", "change_detection"])
def test_absent_class_scores_zero_and_is_left_out_of_the_mean(task: str) -> None:
    metrics = load_ref(task, "metrics")
    scores = metrics.scores(torch.tensor([[4, 0], [0, 0]]))
    assert scores.of_class(1) == {"precision": 0.0, "recall": 0.0, "score": 0.0, "IoU": 0.0}
    assert scores.overall()["IoU"] == pytest.approx(1.0)  # only class 0 occurs
    values = [v for v in scores.overall().values()]
    json.dumps(values, allow_nan=False)  # strict JSON: no NaN anywhere


def _det(score: float, box: tuple[float, float, float, float], cls: int = 0) -> list[float]:
    return [*box, score, float(cls)]


def test_voc_all_point_ap_tp_fp_tp_is_0_8333() -> None:
    metrics = load_ref("detection", "metrics")
    truth = np.array([[0, 0, 0, 10, 10, 0], [0, 20, 20, 30, 30, 0]], dtype=float)
    detections = np.array([
        _det(0.9, (0, 0, 10, 10)),  # TP
        _det(0.8, (50, 50, 60, 60)),  # FP: overlaps nothing
        _det(0.7, (20, 20, 30, 31)),  # TP: IoU 100/110
    ])
    result = metrics.DetectionMetrics(1)
    result.add(detections, truth)
    row = result.per_class()[0]
    assert row["AP"] == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    assert row["AP"] == pytest.approx(0.8333, abs=1e-4)
    # All three detections are above the score threshold: P = 2/3, R = 2/2.
    assert row["P"] == pytest.approx(2 / 3)
    assert row["R"] == pytest.approx(1.0)
    assert row["F1_score"] == pytest.approx(0.8)
    assert result.summary()["mAP"] == pytest.approx(row["AP"])


def test_voc_ap_from_precision_recall_envelope() -> None:
    metrics = load_ref("detection", "metrics")
    ap = metrics.average_precision(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.7]), 2)
    assert ap == pytest.approx(5 / 6)
    assert metrics.average_precision(np.array([0, 1]), np.array([0.9, 0.1]), 1) == pytest.approx(0.5)
    assert metrics.average_precision(np.array([]), np.array([]), 3) == 0.0
    assert metrics.average_precision(np.array([1]), np.array([0.5]), 0) == 0.0


def test_duplicates_are_false_positives_and_difficult_boxes_are_ignored() -> None:
    metrics = load_ref("detection", "metrics")
    truth = np.array([[0, 0, 0, 10, 10, 0], [0, 40, 40, 50, 50, 1]], dtype=float)  # second box difficult
    detections = np.array([_det(0.9, (0, 0, 10, 10)), _det(0.8, (0, 0, 10, 10)), _det(0.7, (40, 40, 50, 50))])
    matches = metrics.match_image(detections, truth, 1)
    assert matches == [(0, 0.9, 1), (0, 0.8, 0)]  # the match to the difficult box counts neither way
    result = metrics.DetectionMetrics(1)
    result.add(detections, truth)
    assert int(result.positives[0]) == 1


def test_classes_are_matched_separately_and_low_scores_count_only_for_ap() -> None:
    metrics = load_ref("detection", "metrics")
    truth = np.array([[0, 0, 0, 10, 10, 0], [1, 20, 20, 30, 30, 0]], dtype=float)
    detections = np.array([_det(0.9, (0, 0, 10, 10), cls=1), _det(0.1, (20, 20, 30, 30), cls=1)])
    result = metrics.DetectionMetrics(2)
    result.add(detections, truth)
    rows = result.per_class()
    assert rows[0] == {"P": 0.0, "R": 0.0, "F1_score": 0.0, "AP": 0.0}
    # Class 1: a FP at 0.9 then a TP at 0.1 -> AP 0.5; only the 0.9 one passes the 0.25 threshold.
    assert rows[1]["AP"] == pytest.approx(0.5)
    assert rows[1]["P"] == 0.0 and rows[1]["R"] == 0.0
    assert result.summary()["mAP"] == pytest.approx(0.25)


def test_no_ground_truth_gives_finite_zeros() -> None:
    metrics = load_ref("detection", "metrics")
    result = metrics.DetectionMetrics(2)
    result.add(np.zeros((0, 6)), np.zeros((0, 6)))
    assert result.summary() == {"P": 0.0, "R": 0.0, "F1_score": 0.0, "mAP": 0.0}


@pytest.mark.parametrize("task", ["segmentation", "change_detection", "detection"])
def test_early_stopping_waits_for_patience(task: str) -> None:
    metrics = load_ref(task, "metrics")
    stopper = metrics.EarlyStopping(patience=2)
    assert stopper.update(0.5, 1) and not stopper.should_stop
    assert not stopper.update(0.5, 2) and not stopper.should_stop
    assert stopper.update(0.6, 3) and stopper.best_epoch == 3
    assert not stopper.update(0.59, 4)
    assert not stopper.update(0.6, 5) and stopper.should_stop
    assert metrics.finite(float("nan")) == 0.0 and metrics.finite(float("inf")) == 0.0
