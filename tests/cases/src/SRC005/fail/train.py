"""Glues the output folder onto the working directory without a separator (SRC005)."""
import json
import os

params = json.loads(input())
out_dir = os.getcwd() + "output/"
os.makedirs(out_dir, exist_ok=True)
epochs = int(params["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
