"""Reads only the platform's keys, and keys it sets itself."""
import json
from types import SimpleNamespace

params = json.loads(input())
params["seed"] = 0
opt = SimpleNamespace(**params)
n_class = int(params["n_class"]) + 1
seed = params["seed"]
if "warmup" in params:
    warmup = params["warmup"]
lr = opt.learning_rate
labels = json.loads(params["label"])
colors = [item["class_color"] for item in labels]  # keys of a label, not of the parameters
epochs = int(opt.epochs)
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
