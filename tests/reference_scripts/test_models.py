"""Shapes, losses and weight loading of the three reference models."""

from __future__ import annotations

import math

import pytest
import torch
from ref_support import load_ref


@pytest.mark.parametrize("size", [(64, 64), (50, 70), (33, 97)])
def test_linknet34_gives_logits_at_the_input_size(size: tuple[int, int]) -> None:
    model = load_ref("segmentation", "model")
    net = model.LinkNet34(4)
    net.train()
    height, width = size
    out = net(torch.randn(1, 3, height, width))  # batch 1 in train mode: BatchNorm must still work
    assert out.shape == (1, 4, height, width)
    out.mean().backward()
    assert net.firstconv.weight.grad is not None


def test_linknet34_is_resnet34_with_linknet_decoder() -> None:
    model = load_ref("segmentation", "model")
    net = model.LinkNet34(2)
    assert [len(layer) for layer in (net.encoder1, net.encoder2, net.encoder3, net.encoder4)] == [3, 4, 6, 3]
    assert isinstance(net.encoder1[0], model.BasicBlock)
    assert net.decoder4.deconv2.stride == (2, 2)
    # ResNet34 encoder (21.3M) plus the LinkNet decoder: about 21.6M parameters.
    count = sum(p.numel() for p in net.parameters())
    assert 21_000_000 < count < 22_500_000


@pytest.mark.parametrize("size", [(64, 64), (40, 56), (17, 23)])
def test_fc_siam_diff_gives_change_logits_at_the_input_size(size: tuple[int, int]) -> None:
    model = load_ref("change_detection", "model")
    net = model.FCSiamDiff(2)
    net.train()
    height, width = size
    a, b = torch.randn(1, 3, height, width), torch.randn(1, 3, height, width)
    out = net(a, b)
    assert out.shape == (1, 2, height, width)
    out.sum().backward()


def test_fc_siam_diff_sees_no_change_between_identical_dates() -> None:
    model = load_ref("change_detection", "model")
    net = model.FCSiamDiff(2).eval()
    image = torch.randn(2, 3, 32, 32)
    swapped = torch.randn(2, 3, 32, 32)
    # With A == B every difference skip is zero: the output only depends on B through the bottleneck.
    same = net(image, image)
    assert torch.isfinite(same).all()
    assert not torch.allclose(net(swapped, image), same)


def _detector_targets() -> torch.Tensor:
    targets = torch.full((2, 3, 6), 0.0)
    targets[..., 0] = -1
    targets[0, 0] = torch.tensor([0, 8, 8, 24, 24, 0])
    targets[0, 1] = torch.tensor([1, 30, 10, 50, 40, 0])
    targets[1, 0] = torch.tensor([1, 2, 30, 14, 60, 0])
    return targets


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_detector_heads_and_loss(size: tuple[int, int]) -> None:
    model = load_ref("detection", "model")
    net = model.YoloDetector(2, model.default_anchors(size))
    net.train()
    height, width = size
    outputs = net(torch.randn(2, 3, height, width))
    padded_h, padded_w = max(64, math.ceil(height / 32) * 32), max(64, math.ceil(width / 32) * 32)
    assert [tuple(o.shape) for o in outputs] == [
        (2, 3, padded_h // 8, padded_w // 8, 7),
        (2, 3, padded_h // 16, padded_w // 16, 7),
    ]
    loss = model.detection_loss(outputs, _detector_targets(), net.anchors, 2)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_detector_loss_without_boxes_is_finite() -> None:
    model = load_ref("detection", "model")
    net = model.YoloDetector(1)
    targets = torch.zeros(1, 1, 6)
    targets[..., 0] = -1
    loss = model.detection_loss(net(torch.randn(1, 3, 64, 64)), targets, net.anchors, 1)
    assert torch.isfinite(loss)


def test_complete_iou_of_equal_boxes_is_one_and_penalises_distance() -> None:
    model = load_ref("detection", "model")
    box = torch.tensor([[10.0, 10.0, 20.0, 30.0]])
    assert model.complete_iou(box, box).item() == pytest.approx(1.0, abs=1e-5)
    far = torch.tensor([[40.0, 10.0, 50.0, 30.0]])
    assert model.complete_iou(far, box).item() < 0  # no overlap and a centre-distance penalty


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    model = load_ref("detection", "model")
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = torch.tensor([0.8, 0.9, 0.7, 0.3])
    assert model.nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert model.nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert model.nms(boxes[:0], scores[:0], 0.5).numel() == 0


def test_predict_returns_clipped_class_aware_detections() -> None:
    model = load_ref("detection", "model")
    net = model.YoloDetector(3).eval()
    with torch.no_grad():
        outputs = net(torch.randn(2, 3, 40, 72))
    results = model.predict(outputs, net.anchors, (72, 40), conf_threshold=0.0, max_det=50)
    assert len(results) == 2
    for rows in results:
        assert rows.shape[1] == 6 and 0 < rows.shape[0] <= 50
        assert (rows[:, 0] >= 0).all() and (rows[:, 2] <= 72).all() and (rows[:, 3] <= 40).all()
        assert set(rows[:, 5].long().tolist()) <= {0, 1, 2}
        assert (rows[:-1, 4] >= rows[1:, 4]).all()  # best first


def test_fit_anchors_follow_the_boxes() -> None:
    import numpy as np

    model = load_ref("detection", "model")
    sizes = np.array([[w, w] for w in range(10, 40)], dtype=np.float32)
    anchors = model.fit_anchors(sizes, (64, 64))
    assert anchors.shape == (2, 3, 2)
    flat = anchors[..., 0].flatten()
    assert (flat[1:] >= flat[:-1]).all() and 10 <= flat[0] < flat[-1] <= 40
    assert torch.equal(model.fit_anchors(sizes[:3], (64, 64)), model.default_anchors((64, 64)))


@pytest.mark.parametrize(("task", "builder"), [
    ("segmentation", lambda m, n: m.LinkNet34(n)),
    ("change_detection", lambda m, n: m.FCSiamDiff(n)),
    ("detection", lambda m, n: m.YoloDetector(n)),
])
def test_shape_matching_load_tolerates_another_head(task: str, builder: object) -> None:
    model = load_ref(task, "model")
    source = builder(model, 5)  # type: ignore[operator]
    target = builder(model, 2)  # type: ignore[operator]
    state = {f"module.{k}": v for k, v in source.state_dict().items()}  # as saved from a DDP wrapper
    state["unrelated.weight"] = torch.zeros(3)
    loaded, total = model.load_matching(target, state)
    assert total == len(target.state_dict())
    assert 0 < loaded < total  # the head differs, everything else fits
    mine = target.state_dict()
    same = [k for k, v in source.state_dict().items() if k in mine and mine[k].shape == v.shape]
    assert len(same) == loaded
    assert all(torch.equal(mine[k], source.state_dict()[k]) for k in same)
