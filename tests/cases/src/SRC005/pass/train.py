"""Joins every path with a separator."""
import json
import os

params = json.loads(input())
base = os.path.abspath(os.path.dirname(__file__))
out_dir = base + "/output/"
weights = os.path.join(base, "output", "files", params["model_name"]) + ".th"
log_path = out_dir + "trainlog.json"
tag = "output_" + params["training_id"]
epochs = int(params["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
