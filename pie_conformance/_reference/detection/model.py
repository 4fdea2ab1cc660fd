"""A single-stage YOLO-style detector in plain torch: anchors, CIoU box loss, IoU-aware objectness, NMS.

Target assignment, the loss and NMS are batched tensor code: the loss has fixed shapes (no host
synchronisation per step) and NMS runs on every image of a batch at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Output strides of the two detection heads.
STRIDES = (8, 16)
ANCHORS_PER_LEVEL = 3
#: Inputs are padded to a multiple of the deepest stride (32); at least 64 keeps that map 2x2 for BatchNorm.
PAD_STRIDE = 32
MIN_SIDE = 64
#: A box is assigned to an anchor when neither side differs from the anchor's by more than this factor.
ANCHOR_RATIO = 4.0
#: Objectness loss weight per level: the fine level has more cells and more small objects.
LEVEL_BALANCE = (4.0, 1.0)
BOX_WEIGHT, OBJ_WEIGHT, CLS_WEIGHT = 1.0, 1.0, 0.5
EPS = 1e-7


class ConvBnAct(nn.Module):
    """Convolution, BatchNorm, SiLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> bn -> silu."""
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """1x1 then 3x3 convolution, with a residual connection when asked."""

    def __init__(self, channels: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = ConvBnAct(channels, channels, 1)
        self.cv2 = ConvBnAct(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual step."""
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C3(nn.Module):
    """CSP block: half the channels go through bottlenecks, half bypass, then both are fused."""

    def __init__(self, in_ch: int, out_ch: int, depth: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        hidden = out_ch // 2
        self.cv1 = ConvBnAct(in_ch, hidden, 1)
        self.cv2 = ConvBnAct(in_ch, hidden, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, shortcut) for _ in range(depth)))
        self.cv3 = ConvBnAct(2 * hidden, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Split, transform one half, fuse."""
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max-pools widen the receptive field cheaply."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        hidden = in_ch // 2
        self.cv1 = ConvBnAct(in_ch, hidden, 1)
        self.cv2 = ConvBnAct(hidden * 4, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool at three scales, concatenate, fuse."""
        x = self.cv1(x)
        y1 = F.max_pool2d(x, 5, 1, 2)
        y2 = F.max_pool2d(y1, 5, 1, 2)
        return self.cv2(torch.cat([x, y1, y2, F.max_pool2d(y2, 5, 1, 2)], dim=1))


def default_anchors(size: tuple[int, int]) -> torch.Tensor:
    """Anchors [2,3,2] (w, h pixels) as fractions of the image, for datasets with too few boxes to fit."""
    short = min(size)
    fractions = ((0.06, 0.09, 0.13), (0.19, 0.28, 0.42))
    return torch.tensor([[[short * f, short * f] for f in level] for level in fractions], dtype=torch.float32)


def fit_anchors(sizes: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Anchors [2,3,2] from the training boxes (w, h): medians of six area-sorted groups, small ones first."""
    count = len(STRIDES) * ANCHORS_PER_LEVEL
    if len(sizes) < count:
        return default_anchors(size)
    ordered = sizes[np.argsort(sizes[:, 0] * sizes[:, 1])]
    medians = np.stack([np.median(group, axis=0) for group in np.array_split(ordered, count)])
    fitted = torch.tensor(np.maximum(medians, 2.0), dtype=torch.float32)
    return fitted.reshape(len(STRIDES), ANCHORS_PER_LEVEL, 2)


class YoloDetector(nn.Module):
    """CSP backbone, FPN/PAN neck, two anchor-based heads (strides 8 and 16) for ``num_classes`` classes.

    The anchors are a buffer, saved with the weights: a resumed model keeps the anchors it was trained with.
    """

    def __init__(self, num_classes: int, anchors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        outputs = ANCHORS_PER_LEVEL * (5 + num_classes)
        self.stem = ConvBnAct(3, 16, 3, 2)
        self.down1, self.stage1 = ConvBnAct(16, 32, 3, 2), C3(32, 32, 1)
        self.down2, self.stage2 = ConvBnAct(32, 64, 3, 2), C3(64, 64, 2)  # stride 8
        self.down3, self.stage3 = ConvBnAct(64, 128, 3, 2), C3(128, 128, 2)  # stride 16
        self.down4, self.stage4 = ConvBnAct(128, 256, 3, 2), C3(256, 256, 1)  # stride 32
        self.sppf = SPPF(256, 256)
        self.lateral5, self.top4 = ConvBnAct(256, 128, 1), C3(256, 128, 1, shortcut=False)
        self.lateral4, self.top3 = ConvBnAct(128, 64, 1), C3(128, 64, 1, shortcut=False)
        self.down_n3, self.bottom4 = ConvBnAct(64, 64, 3, 2), C3(128, 128, 1, shortcut=False)
        self.head3 = nn.Conv2d(64, outputs, 1)
        self.head4 = nn.Conv2d(128, outputs, 1)
        initial = anchors if anchors is not None else default_anchors((256, 256))
        self.register_buffer("anchors", initial.clone().float().reshape(len(STRIDES), ANCHORS_PER_LEVEL, 2))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[B,3,H,W] -> per level [B, anchors, H/stride, W/stride, 5 + classes] raw outputs (padded grid)."""
        x = pad_to_stride(x, PAD_STRIDE, MIN_SIDE)
        p3 = self.stage2(self.down2(self.stage1(self.down1(self.stem(x)))))
        p4 = self.stage3(self.down3(p3))
        p5 = self.sppf(self.stage4(self.down4(p4)))
        l5 = self.lateral5(p5)
        t4 = self.top4(torch.cat([F.interpolate(l5, scale_factor=2.0, mode="nearest"), p4], dim=1))
        l4 = self.lateral4(t4)
        n3 = self.top3(torch.cat([F.interpolate(l4, scale_factor=2.0, mode="nearest"), p3], dim=1))
        n4 = self.bottom4(torch.cat([self.down_n3(n3), l4], dim=1))
        return [self._split(self.head3(n3)), self._split(self.head4(n4))]

    def _split(self, out: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = out.shape
        out = out.reshape(batch, ANCHORS_PER_LEVEL, 5 + self.num_classes, height, width)
        return out.permute(0, 1, 3, 4, 2)


def pad_to_stride(x: torch.Tensor, stride: int, min_side: int) -> torch.Tensor:
    """Pad right and bottom (replicating the border): both sides multiples of ``stride``, >= ``min_side``."""
    height, width = x.shape[-2:]
    target_h = max(min_side, -(-height // stride) * stride)
    target_w = max(min_side, -(-width // stride) * stride)
    if (target_h, target_w) == (height, width):
        return x
    return F.pad(x, (0, target_w - width, 0, target_h - height), mode="replicate")


def init_weights(model: YoloDetector) -> None:
    """Random start; head biases make objectness start near 1% (stable first steps on mostly-empty grids)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for head in (model.head3, model.head4):
        nn.init.normal_(head.weight, std=0.01)
        assert head.bias is not None
        bias = head.bias.detach().view(ANCHORS_PER_LEVEL, 5 + model.num_classes)
        bias[:, 4] = math.log(0.01 / 0.99)
        bias[:, 5:] = math.log(0.6 / max(model.num_classes - 0.99, 0.01))


def decode_level(out: torch.Tensor, anchors: torch.Tensor, stride: int) -> torch.Tensor:
    """Raw [B,A,H,W,>=4] -> boxes [B,A,H,W,4] (x1, y1, x2, y2 px); centres may lie half a cell outside."""
    _, _, height, width, _ = out.shape
    ys, xs = torch.meshgrid(torch.arange(height, device=out.device), torch.arange(width, device=out.device),
                            indexing="ij")
    grid = torch.stack((xs, ys), dim=-1).to(out.dtype).view(1, 1, height, width, 2)
    xy = (out[..., 0:2].sigmoid() * 2.0 - 0.5 + grid) * stride
    wh = (out[..., 2:4].sigmoid() * 2.0) ** 2 * anchors.view(1, -1, 1, 1, 2).to(out.dtype)
    return torch.cat([xy - wh / 2, xy + wh / 2], dim=-1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of [N,4] and [M,4] x1y1x2y2 boxes -> [N,M]."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + EPS)


def complete_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Element-wise CIoU of [...,4] boxes: IoU minus centre-distance and aspect penalties (Zheng et al.)."""
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    pw, ph = (px2 - px1).clamp(min=0), (py2 - py1).clamp(min=0)
    tw, th = (tx2 - tx1).clamp(min=0), (ty2 - ty1).clamp(min=0)
    iw = (torch.minimum(px2, tx2) - torch.maximum(px1, tx1)).clamp(min=0)
    ih = (torch.minimum(py2, ty2) - torch.maximum(py1, ty1)).clamp(min=0)
    inter = iw * ih
    iou = inter / (pw * ph + tw * th - inter + EPS)
    cw = torch.maximum(px2, tx2) - torch.minimum(px1, tx1)
    ch = torch.maximum(py2, ty2) - torch.minimum(py1, ty1)
    diagonal = cw**2 + ch**2 + EPS
    centre = ((px1 + px2 - tx1 - tx2) ** 2 + (py1 + py2 - ty1 - ty2) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(tw / (th + EPS)) - torch.atan(pw / (ph + EPS))) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + EPS))
    return iou - (centre / diagonal + v * alpha)


def _candidates(targets: torch.Tensor, anchors: torch.Tensor, stride: int, grid: tuple[int, int]
                ) -> tuple[torch.Tensor, ...]:
    """Target assignment for one level, every (neighbour, image, box, anchor) candidate at once.

    Returns, flattened in that order (K = 3 * B * M * A): image, anchor, row and column of the cell, the
    cell's index in the level's [B, A, H, W] grid, and whether the candidate is used (a real box, an anchor
    of compatible shape, a cell inside the grid). Shapes depend only on the inputs' shapes.
    """
    height, width = grid
    batch, boxes = targets.shape[:2]
    count = anchors.shape[0]
    device = targets.device
    valid = targets[..., 0] >= 0
    xyxy = targets[..., 1:5]
    centre = (xyxy[..., :2] + xyxy[..., 2:]) / 2
    size = (xyxy[..., 2:] - xyxy[..., :2]).clamp(min=1.0)
    ratio = size[:, :, None, :] / anchors[None, None]
    matches = valid[:, :, None] & (torch.maximum(ratio, 1 / ratio).amax(dim=-1) < ANCHOR_RATIO)  # [B,M,A]
    grid_xy = centre / stride
    cell = grid_xy.floor()
    frac = grid_xy - cell
    zero = torch.zeros_like(frac[..., 0])
    side_x = torch.where(frac[..., 0] < 0.5, -1.0, 1.0)
    side_y = torch.where(frac[..., 1] < 0.5, -1.0, 1.0)
    # Its own cell, then the nearer neighbour across x, then across y.
    cx = cell[..., 0] + torch.stack([zero, side_x, zero])  # [3,B,M]
    cy = cell[..., 1] + torch.stack([zero, zero, side_y])
    inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
    shape = (3, batch, boxes, count)
    use = (matches[None] & inside[..., None]).reshape(-1)
    col = cx.clamp(0, width - 1).long()[..., None].expand(shape).reshape(-1)
    row = cy.clamp(0, height - 1).long()[..., None].expand(shape).reshape(-1)
    image = torch.arange(batch, device=device).view(1, batch, 1, 1).expand(shape).reshape(-1)
    anchor = torch.arange(count, device=device).view(1, 1, 1, count).expand(shape).reshape(-1)
    flat = ((image * count + anchor) * height + row) * width + col
    return image, anchor, row, col, flat, use


def detection_loss(outputs: Sequence[torch.Tensor], targets: torch.Tensor, anchors: torch.Tensor,
                   num_classes: int) -> torch.Tensor:
    """YOLO loss: (1 - CIoU) on assigned cells, BCE objectness with the achieved IoU as target, BCE classes.

    ``targets`` [B,M,>=5] holds (class, x1, y1, x2, y2) per box, class -1 for padding. Each box is assigned
    to every anchor of compatible shape, in its own cell and the two nearest neighbour cells; where several
    boxes claim one cell and anchor, the last (neighbour, image, box, anchor) in that order holds it. The box
    and class terms are computed on those B*M*A*3 candidates alone (predictions gathered at their cells),
    the objectness term on every cell; all shapes are fixed, so there is no data-dependent host
    synchronisation.
    """
    device = targets.device
    box_cls = targets[..., 0].long().clamp(min=0)
    xyxy = targets[..., 1:5]
    loss_box = loss_obj = loss_cls = torch.zeros((), device=device)
    for level, out in enumerate(outputs):
        out = out.float()
        stride = STRIDES[level]
        level_anchors = anchors[level].to(device)
        batch, count, height, width, _ = out.shape
        cells = batch * count * height * width
        image, anchor, row, col, flat, use = _candidates(targets, level_anchors, stride, (height, width))
        slots = flat.shape[0]
        order = torch.arange(slots, device=device)
        # One candidate per assigned cell: the last to claim it, as writing them in order would leave it.
        holder = torch.full((cells + 1,), -1, dtype=torch.long, device=device)
        holder.scatter_reduce_(0, torch.where(use, flat, cells), order, reduce="amax")
        held = use & (holder[flat] == order)
        weight = held.float()
        assigned = weight.sum().clamp(min=1.0)
        pred = out[image, anchor, row, col]  # [K, 5 + C]
        grid_xy = torch.stack((col, row), dim=-1).to(pred.dtype)
        xy = (pred[:, 0:2].sigmoid() * 2.0 - 0.5 + grid_xy) * stride
        wh = (pred[:, 2:4].sigmoid() * 2.0) ** 2 * level_anchors[anchor].to(pred.dtype)
        pred_box = torch.cat([xy - wh / 2, xy + wh / 2], dim=-1)
        shape = (3, batch, xyxy.shape[1], count)
        target_box = xyxy[None, :, :, None, :].expand(*shape, 4).reshape(-1, 4)
        ciou = complete_iou(pred_box, target_box)
        loss_box = loss_box + ((1.0 - ciou) * weight).sum() / assigned
        objectness = torch.zeros(cells + 1, device=device)  # IoU-aware objectness target, 0 where unassigned
        objectness.index_put_((torch.where(held, flat, cells),), ciou.detach().clamp(min=0) * weight)
        obj_bce = F.binary_cross_entropy_with_logits(out[..., 4], objectness[:cells].view(out.shape[:4]))
        loss_obj = loss_obj + LEVEL_BALANCE[level] * obj_bce
        target_cls = box_cls[None, :, :, None].expand(shape).reshape(-1)
        onehot = F.one_hot(target_cls, num_classes).to(pred.dtype)
        cls_bce = F.binary_cross_entropy_with_logits(pred[:, 5:], onehot, reduction="none")
        loss_cls = loss_cls + (cls_bce.mean(dim=-1) * weight).sum() / assigned
    return BOX_WEIGHT * loss_box + OBJ_WEIGHT * loss_obj + CLS_WEIGHT * loss_cls


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, best first."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    valid = torch.ones((1, len(order)), dtype=torch.bool, device=boxes.device)
    picks, found = batched_nms(boxes[order][None], valid, iou_threshold, len(order))
    return order[picks[0][found[0]]]


def _iou_one_to_many(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of [B,4] boxes with [B,N,4] boxes -> [B,N] (x1y1x2y2)."""
    area = (box[:, 2] - box[:, 0]).clamp(min=0) * (box[:, 3] - box[:, 1]).clamp(min=0)
    areas = (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)
    top_left = torch.maximum(box[:, None, :2], boxes[..., :2])
    bottom_right = torch.minimum(box[:, None, 2:], boxes[..., 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    return inter / (area[:, None] + areas - inter + EPS)


#: Up to this many candidate pairs in a batch, NMS computes every overlap once up front.
NMS_PAIRS_AT_ONCE = 1 << 22


@torch.no_grad()
def batched_nms(boxes: torch.Tensor, valid: torch.Tensor, iou_threshold: float,
                max_det: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy NMS of every image at once over candidates already sorted best first: boxes [B,N,4].

    Keeps the first remaining candidate of each image, drops those overlapping it by more than
    ``iou_threshold``, and repeats: the greedy result, stopped after ``max_det`` boxes (later ones cannot
    change the first ``max_det``). ``valid`` [B,N] marks real candidates. Returns (positions [B,max_det],
    found [B,max_det]): the kept candidates' positions, best first, and which of the slots hold one.
    """
    batch, count = valid.shape
    device = boxes.device
    rows = torch.arange(batch, device=device)
    positions = torch.arange(count, device=device).expand(batch, count)
    # Position `count` stands for "none left": its row overlaps nothing.
    padded = torch.cat([boxes, boxes.new_zeros((batch, 1, 4))], dim=1)
    overlaps: torch.Tensor | None = None
    if batch * count * count <= NMS_PAIRS_AT_ONCE:
        overlaps = torch.stack([box_iou(b, b) for b in boxes]) > iou_threshold
        overlaps |= torch.eye(count, dtype=torch.bool, device=device)  # kept means gone from the rest
        overlaps = torch.cat([overlaps, overlaps.new_zeros((batch, 1, count))], dim=1)
    remaining = valid.clone()
    picks = []
    for slot in range(min(max_det, count)):
        if slot % 8 == 0 and not bool(remaining.any()):
            break
        first = torch.where(remaining, positions, count).amin(dim=1)
        picks.append(first)
        if overlaps is not None:
            gone = overlaps[rows, first]
        else:
            gone = _iou_one_to_many(padded[rows, first], boxes) > iou_threshold
            gone |= positions == first[:, None]  # a box of no area does not overlap itself
        remaining &= ~gone
    chosen = torch.stack(picks, dim=1) if picks else positions.new_zeros((batch, 0))
    found = chosen < count
    picks_all = torch.zeros((batch, max_det), dtype=torch.long, device=device)
    found_all = torch.zeros((batch, max_det), dtype=torch.bool, device=device)
    picks_all[:, : chosen.shape[1]] = chosen.clamp(max=max(count - 1, 0))
    found_all[:, : chosen.shape[1]] = found
    return picks_all, found_all


@torch.no_grad()
def predict(outputs: Sequence[torch.Tensor], anchors: torch.Tensor, size: tuple[int, int],
            conf_threshold: float = 0.001, iou_threshold: float = 0.5, max_det: int = 100,
            pre_nms: int = 1000) -> list[torch.Tensor]:
    """Detections per image, [K,6] rows (x1, y1, x2, y2, score, class), boxes clipped to ``size`` (W, H)."""
    boxes, objectness, classes = [], [], []
    for level, out in enumerate(outputs):
        out = out.float()
        batch = out.shape[0]
        boxes.append(decode_level(out, anchors[level], STRIDES[level]).reshape(batch, -1, 4))
        objectness.append(out[..., 4].reshape(batch, -1))
        classes.append(out[..., 5:].reshape(batch, -1, out.shape[-1] - 5))
    all_boxes = torch.cat(boxes, dim=1)
    scores = torch.cat(objectness, dim=1).sigmoid()[..., None] * torch.cat(classes, dim=1).sigmoid()
    best, labels = scores.max(dim=-1)
    width, height = size
    # The pre_nms best candidates of each image, best first; those over conf_threshold take part.
    top_scores, top = best.topk(min(pre_nms, best.shape[1]), dim=1)
    chosen = all_boxes.gather(1, top[..., None].expand(-1, -1, 4))
    limit = torch.tensor([width, height, width, height], dtype=chosen.dtype, device=chosen.device)
    chosen = torch.minimum(chosen.clamp(min=0), limit)
    chosen_labels = labels.gather(1, top)
    # Offsetting each class by more than the image size makes one NMS pass class-aware.
    offset = chosen_labels[..., None].to(chosen.dtype) * float(width + height + 1)
    picks, found = batched_nms(chosen + offset, top_scores > conf_threshold, iou_threshold, max_det)
    results = []
    for i in range(best.shape[0]):
        kept = picks[i][found[i]]
        rows = [chosen[i][kept], top_scores[i][kept, None], chosen_labels[i][kept, None].to(chosen.dtype)]
        results.append(torch.cat(rows, dim=1))
    return results


def build_model(num_classes: int, anchors: torch.Tensor | None = None) -> YoloDetector:
    """The detector this script trains."""
    return YoloDetector(num_classes, anchors)


def load_matching(model: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    """Copy the tensors of ``state`` whose names and shapes match the model; return (loaded, model total).

    A checkpoint with another head (other class count) or from a wrapped model (``module.`` prefix) still
    loads everything that fits; the rest keeps its random initialisation.
    """
    own = model.state_dict()
    matched = {}
    for name, tensor in state.items():
        key = name[len("module."):] if name.startswith("module.") else name
        if key in own and isinstance(tensor, torch.Tensor) and tuple(own[key].shape) == tuple(tensor.shape):
            matched[key] = tensor.to(dtype=own[key].dtype)
    own.update(matched)
    model.load_state_dict(own)
    return len(matched), len(own)
