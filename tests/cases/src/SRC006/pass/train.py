"""Reads the JSON line the platform sends on standard input."""
import json
import sys

params = json.loads(sys.stdin.readline())
epochs = int(params["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
