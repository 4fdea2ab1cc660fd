"""The detector's batched target assignment, loss and NMS against plain one-at-a-time versions of them.

The oracles below spell the semantics out the slow way: every (neighbour, image, box, anchor) claim written
in turn into dense per-cell targets (a later claim on the same cell and anchor overwrites an earlier one),
the loss over every cell, and greedy NMS one box at a time on one image at a time.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ref_support import load_ref

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dense_loss(model: Any, outputs: list[torch.Tensor], targets: torch.Tensor, anchors: torch.Tensor,
                num_classes: int) -> torch.Tensor:
    """The loss with targets written claim by claim into every cell, then judged on every cell."""
    batch, boxes = targets.shape[:2]
    total_box = total_obj = total_cls = torch.zeros(())
    for level, out in enumerate(outputs):
        stride = model.STRIDES[level]
        _, count, height, width, _ = out.shape
        target_box = torch.zeros((batch, count, height, width, 4))
        target_box[..., 2:] = float(stride)
        target_cls = torch.zeros((batch, count, height, width), dtype=torch.long)
        mask = torch.zeros((batch, count, height, width))
        for neighbour in range(3):
            for b in range(batch):
                for m in range(boxes):
                    cls, x1, y1, x2, y2 = targets[b, m, :5].tolist()
                    if cls < 0:
                        continue
                    gx, gy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
                    cx, cy = math.floor(gx), math.floor(gy)
                    if neighbour == 1:
                        cx += -1 if gx - math.floor(gx) < 0.5 else 1
                    if neighbour == 2:
                        cy += -1 if gy - math.floor(gy) < 0.5 else 1
                    if not (0 <= cx < width and 0 <= cy < height):
                        continue
                    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
                    for a in range(count):
                        aw, ah = anchors[level, a].tolist()
                        if max(w / aw, aw / w, h / ah, ah / h) >= model.ANCHOR_RATIO:
                            continue
                        target_box[b, a, cy, cx] = targets[b, m, 1:5]
                        target_cls[b, a, cy, cx] = int(cls)
                        mask[b, a, cy, cx] = 1.0
        assigned = mask.sum().clamp(min=1.0)
        pred_box = model.decode_level(out, anchors[level], stride)
        ciou = model.complete_iou(pred_box, target_box)
        total_box = total_box + ((1.0 - ciou) * mask).sum() / assigned
        obj = F.binary_cross_entropy_with_logits(out[..., 4], ciou.detach().clamp(min=0) * mask)
        total_obj = total_obj + model.LEVEL_BALANCE[level] * obj
        onehot = F.one_hot(target_cls, num_classes).float()
        cls_bce = F.binary_cross_entropy_with_logits(out[..., 5:], onehot, reduction="none").mean(dim=-1)
        total_cls = total_cls + (cls_bce * mask).sum() / assigned
    return model.BOX_WEIGHT * total_box + model.OBJ_WEIGHT * total_obj + model.CLS_WEIGHT * total_cls


@st.composite
def _scenes(draw: st.DrawFn) -> tuple[int, tuple[int, int], torch.Tensor]:
    """(classes, (height, width), targets [B,M,6]) with padding rows, boxes at the edges, shared cells."""
    classes = draw(st.integers(1, 3))
    height, width = draw(st.sampled_from([(64, 64), (48, 80), (96, 64)]))
    batch, boxes = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    targets = torch.full((batch, boxes, 6), 0.0)
    targets[..., 0] = -1.0
    for b in range(batch):
        for m in range(draw(st.integers(0, boxes))):
            if m and draw(st.booleans()):  # the same box again, maybe another class: one cell, two claims
                targets[b, m] = targets[b, m - 1]
                targets[b, m, 0] = float(draw(st.integers(0, classes - 1)))
                continue
            x1 = draw(st.floats(0, width - 2))
            y1 = draw(st.floats(0, height - 2))
            x2 = draw(st.floats(x1 + 1, float(width)))
            y2 = draw(st.floats(y1 + 1, float(height)))
            targets[b, m] = torch.tensor([draw(st.integers(0, classes - 1)), x1, y1, x2, y2, 0.0])
    return classes, (height, width), targets


@_SETTINGS
@given(_scenes(), st.integers(0, 2**16))
def test_loss_and_its_gradient_equal_the_claim_by_claim_loss(scene: tuple, seed: int) -> None:
    model = load_ref("detection", "model")
    classes, (height, width), targets = scene
    torch.manual_seed(seed)
    net = model.YoloDetector(classes, model.default_anchors((width, height)))
    outputs = [o.detach().requires_grad_() for o in net(torch.randn(targets.shape[0], 3, height, width))]
    got = model.detection_loss(outputs, targets, net.anchors, classes)
    expected = _dense_loss(model, outputs, targets, net.anchors, classes)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    for a, b in zip(torch.autograd.grad(got, outputs), torch.autograd.grad(expected, outputs), strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def _greedy(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    model = load_ref("detection", "model")
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    overlaps = model.box_iou(boxes, boxes)
    kept: list[int] = []
    for i in order:
        if all(overlaps[k, i] <= threshold for k in kept):
            kept.append(i)
    return kept


_boxes = st.lists(
    # Boxes of at least half a pixel a side: an empty box has no defined overlap (0/0).
    st.tuples(st.floats(0, 60), st.floats(0, 60), st.floats(0.5, 30), st.floats(0.5, 30)), min_size=1,
    max_size=40,
)


@pytest.mark.parametrize("pairs_at_once", [0, 1 << 22], ids=["box by box", "every pair at once"])
@_SETTINGS
@given(_boxes, st.data(), st.sampled_from([0.3, 0.5, 0.7]))
def test_nms_equals_one_box_at_a_time_greedy(pairs_at_once: int, rows: list, data: st.DataObject,
                                              threshold: float) -> None:
    model = load_ref("detection", "model")
    boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in rows])
    scores = torch.tensor(data.draw(st.lists(st.floats(0, 1), min_size=len(rows), max_size=len(rows),
                                             unique=True)))
    # Scores unique as drawn may meet once rounded to float32, and an overlap within rounding of the
    # threshold may fall either side: such ties say nothing about the algorithm, so they are left out.
    assume(len(set(scores.tolist())) == len(rows))
    near = (model.box_iou(boxes.double(), boxes.double()) - threshold).abs() < 1e-4
    assume(not bool(near.any()))
    saved, model.NMS_PAIRS_AT_ONCE = model.NMS_PAIRS_AT_ONCE, pairs_at_once
    try:
        assert model.nms(boxes, scores, threshold).tolist() == _greedy(boxes, scores, threshold)
    finally:
        model.NMS_PAIRS_AT_ONCE = saved


@pytest.mark.parametrize("pairs_at_once", [0, 1 << 22], ids=["box by box", "every pair at once"])
@pytest.mark.parametrize("seed", range(4))
def test_predict_equals_nms_image_by_image(pairs_at_once: int, seed: int) -> None:
    model = load_ref("detection", "model")
    torch.manual_seed(seed)
    net = model.YoloDetector(3).eval()
    width, height = 72, 40
    with torch.no_grad():
        outputs = net(torch.randn(3, 3, height, width))
    saved, model.NMS_PAIRS_AT_ONCE = model.NMS_PAIRS_AT_ONCE, pairs_at_once
    try:
        results = model.predict(outputs, net.anchors, (width, height), conf_threshold=0.05, max_det=20,
                                pre_nms=150)
    finally:
        model.NMS_PAIRS_AT_ONCE = saved
    boxes = torch.cat([model.decode_level(o, net.anchors[i], model.STRIDES[i]).reshape(3, -1, 4)
                       for i, o in enumerate(outputs)], dim=1)
    scores = torch.cat([(o[..., 4:5].sigmoid() * o[..., 5:].sigmoid()).reshape(3, -1, 3) for o in outputs], 1)
    best, labels = scores.max(dim=-1)
    for i, rows in enumerate(results):
        top = best[i].topk(150).indices
        top = top[best[i][top] > 0.05]
        chosen = boxes[i][top].clone()
        chosen[:, 0::2] = chosen[:, 0::2].clamp(0, width)
        chosen[:, 1::2] = chosen[:, 1::2].clamp(0, height)
        shifted = chosen + labels[i][top, None].float() * (width + height + 1)
        kept = _greedy(shifted, best[i][top], 0.5)[:20]
        assert rows.shape == (len(kept), 6)
        assert torch.allclose(rows[:, :4], chosen[kept])
        assert torch.equal(rows[:, 4], best[i][top][kept])
        assert torch.equal(rows[:, 5].long(), labels[i][top][kept])
