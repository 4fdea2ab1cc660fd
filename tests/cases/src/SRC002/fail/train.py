"""A yolov5-style script that reads its own key names from the platform's parameters (SRC002)."""
import json

with open("traincfg.json", encoding="utf-8") as f:
    cfg = json.load(f)

nc = int(cfg["nc"])  # the platform sends n_class
lr0 = float(cfg.get("lr0", 0.01))  # the platform sends learning_rate
epochs = int(cfg["epochs"])
for epoch in range(epochs):
    print(f"[Process: {epoch + 1}/{epochs}]", flush=True)
