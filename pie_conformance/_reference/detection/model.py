"""A single-stage YOLO-style detector in plain torch: anchors, CIoU box loss, IoU-aware objectness, NMS."""

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


def detection_loss(outputs: Sequence[torch.Tensor], targets: torch.Tensor, anchors: torch.Tensor,
                   num_classes: int) -> torch.Tensor:
    """YOLO loss: (1 - CIoU) on assigned cells, BCE objectness with the achieved IoU as target, BCE classes.

    ``targets`` [B,M,>=5] holds (class, x1, y1, x2, y2) per box, class -1 for padding. Each box is assigned
    to every anchor of compatible shape, in its own cell and the two nearest neighbour cells. The targets
    are built densely with index_put_, so there is no data-dependent host synchronisation.
    """
    device = targets.device
    batch, boxes = targets.shape[:2]
    cls_t = targets[..., 0]
    valid = cls_t >= 0
    box_cls = cls_t.long().clamp(min=0)
    xyxy = targets[..., 1:5]
    centre = (xyxy[..., :2] + xyxy[..., 2:]) / 2
    size = (xyxy[..., 2:] - xyxy[..., :2]).clamp(min=1.0)
    loss_box = loss_obj = loss_cls = torch.zeros((), device=device)
    for level, out in enumerate(outputs):
        out = out.float()
        stride = STRIDES[level]
        level_anchors = anchors[level].to(device)
        _, count, height, width, _ = out.shape
        ratio = size[:, :, None, :] / level_anchors[None, None]
        matches = valid[:, :, None] & (torch.maximum(ratio, 1 / ratio).amax(dim=-1) < ANCHOR_RATIO)  # [B,M,A]
        grid_xy = centre / stride
        cell = grid_xy.floor()
        frac = grid_xy - cell
        side_x = torch.where(frac[..., 0] < 0.5, -1.0, 1.0)
        side_y = torch.where(frac[..., 1] < 0.5, -1.0, 1.0)
        zero = torch.zeros_like(side_x)
        cells = batch * count * height * width
        target_box = torch.zeros((cells + 1, 4), device=device)
        target_box[:, 2:] = float(stride)  # a harmless unit box where nothing is assigned: no NaN anywhere
        target_cls = torch.zeros(cells + 1, dtype=torch.long, device=device)
        assigned = torch.zeros(cells + 1, device=device)
        b_index = torch.arange(batch, device=device).view(batch, 1, 1)
        a_index = torch.arange(count, device=device).view(1, 1, count)
        for dx, dy in ((zero, zero), (side_x, zero), (zero, side_y)):
            cx, cy = cell[..., 0] + dx, cell[..., 1] + dy
            inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
            use = matches & inside[:, :, None]
            row, col = cy.long()[:, :, None], cx.long()[:, :, None]
            flat = ((b_index * count + a_index) * height + row) * width + col
            flat = torch.where(use, flat, torch.full_like(flat, cells)).reshape(-1)  # spare row: unassigned
            target_box.index_put_((flat,), xyxy[:, :, None, :].expand(-1, -1, count, -1).reshape(-1, 4))
            target_cls.index_put_((flat,), box_cls[:, :, None].expand(-1, -1, count).reshape(-1))
            assigned.index_put_((flat,), use.float().reshape(-1))
        mask = assigned[:cells]
        mask_sum = mask.sum().clamp(min=1.0)
        pred_box = decode_level(out, level_anchors, stride).reshape(-1, 4)
        ciou = complete_iou(pred_box, target_box[:cells])
        loss_box = loss_box + ((1.0 - ciou) * mask).sum() / mask_sum
        objectness = (ciou.detach().clamp(min=0) * mask).view(out.shape[:4])  # IoU-aware objectness target
        obj_bce = F.binary_cross_entropy_with_logits(out[..., 4], objectness)
        loss_obj = loss_obj + LEVEL_BALANCE[level] * obj_bce
        onehot = F.one_hot(target_cls[:cells], num_classes).float()
        cls_logits = out[..., 5:].reshape(-1, num_classes)
        cls_bce = F.binary_cross_entropy_with_logits(cls_logits, onehot, reduction="none")
        loss_cls = loss_cls + (cls_bce.mean(dim=-1) * mask).sum() / mask_sum
    return BOX_WEIGHT * loss_box + OBJ_WEIGHT * loss_obj + CLS_WEIGHT * loss_cls


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, best first."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    # One IoU matrix on the device, one copy to the host, then the greedy pass in numpy.
    overlaps = box_iou(boxes[order], boxes[order]).cpu().numpy()
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlaps[i] > iou_threshold
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]


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
    results = []
    for i in range(all_boxes.shape[0]):
        top = best[i].topk(min(pre_nms, best.shape[1])).indices
        top = top[best[i][top] > conf_threshold]
        chosen = all_boxes[i][top]
        chosen = torch.stack([chosen[:, 0].clamp(0, width), chosen[:, 1].clamp(0, height),
                              chosen[:, 2].clamp(0, width), chosen[:, 3].clamp(0, height)], dim=1)
        chosen_scores, chosen_labels = best[i][top], labels[i][top]
        # Offsetting each class by more than the image size makes one NMS pass class-aware.
        offset = chosen_labels[:, None].float() * float(width + height + 1)
        kept = nms(chosen + offset, chosen_scores, iou_threshold)[:max_det]
        rows = [chosen[kept], chosen_scores[kept, None], chosen_labels[kept, None].float()]
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
