"""Adversarial: creates 10,000 files in output/picture/, then announces its only epoch."""
import os

os.makedirs("output/picture", exist_ok=True)
for i in range(10_000):
    with open(f"output/picture/junk{i:05d}.txt", "w") as f:
        f.write("x")
print("[Process: 1/1]", flush=True)
