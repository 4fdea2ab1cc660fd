"""Trains, writes its outputs, but tells the platform nothing: no `[Process: k/N]` line (SRC001)."""
import json
import os

params = json.load(open("traincfg.json", encoding="utf-8"))
epochs = int(params["epochs"])
os.makedirs(os.path.join("output", "files"), exist_ok=True)
for epoch in range(epochs):
    # a progress bar of its own instead of the platform's line
    print("epoch {}/{} done".format(epoch + 1, epochs), flush=True)
