"""Developed on Windows: the data path names a drive the platform does not have (SRC004)."""
import json
import os

params = json.loads(input())
data_root = "D:\\datasets\\buildings"
images = os.listdir(os.path.join(data_root, "train"))
epochs = int(params["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
