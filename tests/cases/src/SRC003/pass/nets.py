"""A model whose pretrained weights come with the script."""
import os

import torch
from torch import nn


def resnet34(pretrained=False):
    model = nn.Linear(4, 2)
    if pretrained:
        here = os.path.dirname(os.path.abspath(__file__))
        model.load_state_dict(torch.load(os.path.join(here, "resnet34.pth"), map_location="cpu"))
    return model
