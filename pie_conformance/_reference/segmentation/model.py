"""LinkNet34: a ResNet34 encoder (BasicBlocks 3-4-6-3), LinkNet decoder with additive skips."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

#: The encoder downsamples 32 times; inputs are padded to a multiple of this.
STRIDE = 32
#: Smallest padded side: keeps the deepest feature map at least 2x2, so BatchNorm works even at batch size 1.
MIN_SIDE = 64


class BasicBlock(nn.Module):
    """The ResNet basic block: two 3x3 convolutions and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual step."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def resnet_layer(in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    """One ResNet stage: ``blocks`` basic blocks, the first one strided."""
    layers = [BasicBlock(in_ch, out_ch, stride)]
    layers += [BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class DecoderBlock(nn.Module):
    """LinkNet decoder block: 1x1 reduce to in/4, 3x3 transposed conv x2 upsampling, 1x1 expand."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = in_ch // 4
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(mid)
        self.relu1 = nn.ReLU(inplace=True)
        self.deconv2 = nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.norm3 = nn.BatchNorm2d(out_ch)
        self.relu3 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample by 2."""
        x = self.relu1(self.norm1(self.conv1(x)))
        x = self.relu2(self.norm2(self.deconv2(x)))
        return self.relu3(self.norm3(self.conv3(x)))


class LinkNet34(nn.Module):
    """LinkNet34 for semantic segmentation; logits at the input's size for any input size.

    Layer names follow the widely used public LinkNet34 (``firstconv``, ``encoder1``..., ``decoder4``...),
    so a shape-matching load can pick up weights trained with it.
    """

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        filters = (64, 128, 256, 512)
        self.firstconv = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.firstbn = nn.BatchNorm2d(64)
        self.firstrelu = nn.ReLU(inplace=True)
        self.firstmaxpool = nn.MaxPool2d(3, 2, 1)
        self.encoder1 = resnet_layer(64, filters[0], 3, 1)
        self.encoder2 = resnet_layer(filters[0], filters[1], 4, 2)
        self.encoder3 = resnet_layer(filters[1], filters[2], 6, 2)
        self.encoder4 = resnet_layer(filters[2], filters[3], 3, 2)
        self.decoder4 = DecoderBlock(filters[3], filters[2])
        self.decoder3 = DecoderBlock(filters[2], filters[1])
        self.decoder2 = DecoderBlock(filters[1], filters[0])
        self.decoder1 = DecoderBlock(filters[0], filters[0])
        self.finaldeconv1 = nn.ConvTranspose2d(filters[0], 32, 4, 2, 1)
        self.finalrelu1 = nn.ReLU(inplace=True)
        self.finalconv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.finalrelu2 = nn.ReLU(inplace=True)
        self.finalconv3 = nn.Conv2d(32, num_classes, 3, padding=1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,C,H,W] -> [B,num_classes,H,W] logits; pads to a multiple of 32 inside, crops back after."""
        height, width = x.shape[-2:]
        x = pad_to_stride(x, STRIDE, MIN_SIDE)
        x = self.firstmaxpool(self.firstrelu(self.firstbn(self.firstconv(x))))
        e1 = self.encoder1(x)
        e2 = self.encoder2(e1)
        e3 = self.encoder3(e2)
        e4 = self.encoder4(e3)
        d4 = self.decoder4(e4) + e3  # the LinkNet skips add, so the decoder stays narrow
        d3 = self.decoder3(d4) + e2
        d2 = self.decoder2(d3) + e1
        d1 = self.decoder1(d2)
        out = self.finalrelu1(self.finaldeconv1(d1))
        out = self.finalrelu2(self.finalconv2(out))
        return self.finalconv3(out)[..., :height, :width]


def pad_to_stride(x: torch.Tensor, stride: int, min_side: int) -> torch.Tensor:
    """Pad right and bottom (replicating the border): both sides multiples of ``stride``, >= ``min_side``."""
    height, width = x.shape[-2:]
    target_h = max(min_side, -(-height // stride) * stride)
    target_w = max(min_side, -(-width // stride) * stride)
    if (target_h, target_w) == (height, width):
        return x
    # Replicate padding needs the pad smaller than the side for 'reflect'; replicate has no such limit.
    return F.pad(x, (0, target_w - width, 0, target_h - height), mode="replicate")


def init_weights(module: nn.Module) -> None:
    """He initialisation for convolutions, unit BatchNorm: a random start, nothing downloaded."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    # Zero the last BN of each residual block: blocks start as the identity, which trains faster from scratch.
    for m in module.modules():
        if isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)


def build_model(num_classes: int) -> nn.Module:
    """The segmentation network this script trains."""
    return LinkNet34(num_classes)


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
