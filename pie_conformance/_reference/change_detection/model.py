"""FC-Siam-diff (Daudt et al., 2018): one encoder shared by both dates, skips carry |f(A) - f(B)|."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

#: Four 2x poolings: inputs are padded to a multiple of this.
STRIDE = 16
#: Smallest padded side: keeps the deepest feature map at least 2x2, so BatchNorm works even at batch size 1.
MIN_SIDE = 32


def conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


def up(channels: int) -> nn.ConvTranspose2d:
    """Transposed 3x3 convolution that doubles height and width."""
    return nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)


class FCSiamDiff(nn.Module):
    """Fully convolutional siamese network, difference skips; logits per pixel for ``num_classes`` classes."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        # Encoder, shared by both dates (the same weights see A and B).
        self.conv11, self.conv12 = conv_bn_relu(in_channels, 16), conv_bn_relu(16, 16)
        self.conv21, self.conv22 = conv_bn_relu(16, 32), conv_bn_relu(32, 32)
        self.conv31, self.conv32 = conv_bn_relu(32, 64), conv_bn_relu(64, 64)
        self.conv33 = conv_bn_relu(64, 64)
        self.conv41, self.conv42 = conv_bn_relu(64, 128), conv_bn_relu(128, 128)
        self.conv43 = conv_bn_relu(128, 128)
        # Decoder: each stage takes the upsampled map concatenated with the absolute feature difference.
        self.upconv4 = up(128)
        self.conv43d, self.conv42d = conv_bn_relu(256, 128), conv_bn_relu(128, 128)
        self.conv41d = conv_bn_relu(128, 64)
        self.upconv3 = up(64)
        self.conv33d, self.conv32d = conv_bn_relu(128, 64), conv_bn_relu(64, 64)
        self.conv31d = conv_bn_relu(64, 32)
        self.upconv2 = up(32)
        self.conv22d, self.conv21d = conv_bn_relu(64, 32), conv_bn_relu(32, 16)
        self.upconv1 = up(16)
        self.conv12d = conv_bn_relu(32, 16)
        self.conv11d = nn.Conv2d(16, num_classes, 3, padding=1)
        init_weights(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The four skip features (before each pooling) and the bottleneck."""
        x1 = self.conv12(self.conv11(x))
        x2 = self.conv22(self.conv21(F.max_pool2d(x1, 2)))
        x3 = self.conv33(self.conv32(self.conv31(F.max_pool2d(x2, 2))))
        x4 = self.conv43(self.conv42(self.conv41(F.max_pool2d(x3, 2))))
        return x1, x2, x3, x4, F.max_pool2d(x4, 2)

    def forward(self, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
        """[B,C,H,W] x 2 -> [B,num_classes,H,W] logits; pads to a multiple of 16 inside, crops after."""
        height, width = image_a.shape[-2:]
        # Both dates go through the encoder as one batch: one pass, identical weights, better GPU use.
        both = pad_to_stride(torch.cat([image_a, image_b], dim=0), STRIDE, MIN_SIDE)
        count = image_a.shape[0]
        features = self.encode(both)
        a1, a2, a3, a4, _ = (f[:count] for f in features)
        b1, b2, b3, b4, pooled_b = (f[count:] for f in features)
        # The bottleneck of date B starts the decoder, as in the paper's FC-Siam-diff.
        d = self.upconv4(pooled_b)
        d = self.conv41d(self.conv42d(self.conv43d(torch.cat([d, (a4 - b4).abs()], dim=1))))
        d = self.upconv3(d)
        d = self.conv31d(self.conv32d(self.conv33d(torch.cat([d, (a3 - b3).abs()], dim=1))))
        d = self.upconv2(d)
        d = self.conv21d(self.conv22d(torch.cat([d, (a2 - b2).abs()], dim=1)))
        d = self.upconv1(d)
        d = self.conv11d(self.conv12d(torch.cat([d, (a1 - b1).abs()], dim=1)))
        return d[..., :height, :width]


def pad_to_stride(x: torch.Tensor, stride: int, min_side: int) -> torch.Tensor:
    """Pad right and bottom (replicating the border): both sides multiples of ``stride``, >= ``min_side``."""
    height, width = x.shape[-2:]
    target_h = max(min_side, -(-height // stride) * stride)
    target_w = max(min_side, -(-width // stride) * stride)
    if (target_h, target_w) == (height, width):
        return x
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


def build_model(num_classes: int) -> nn.Module:
    """The change-detection network this script trains."""
    return FCSiamDiff(num_classes)


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
