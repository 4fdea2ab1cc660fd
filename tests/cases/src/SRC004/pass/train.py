"""Backslashes that are not paths, and a Windows path only on Windows."""
import json
import os
import re

params = json.loads(input())
version = re.compile(r"\d+\.\d+")
key = "images\\0.png".replace("\\", "/")
if os.name == "nt":
    cache = "C:\\Temp\\cache"
else:
    cache = "/tmp/cache"
print("on Windows this would be C:\\Temp\\cache")
epochs = int(params["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
