"""Loads weights bundled next to train.py; the only request goes to a local service."""
import json
import os

import requests
import torch
import torchvision

from nets import resnet34

params = json.loads(input())
here = os.path.dirname(os.path.abspath(__file__))
backbone = torchvision.models.resnet50(weights=None)
backbone.load_state_dict(torch.load(os.path.join(here, "resnet50.pth"), map_location="cpu"))
local = torch.hub.load(os.path.join(here, "yolov5"), "custom", source="local")
own = resnet34(pretrained=True)  # the folder's own model: loads its bundled weights
requests.get("http://127.0.0.1:8080/health")
epochs = int(params["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
