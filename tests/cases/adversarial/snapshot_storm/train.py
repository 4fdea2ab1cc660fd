"""Adversarial (issue 13, row 8): 3,000 files in output/, then 300 progress lines as fast as it can, so that
a kit whose snapshot time is not counted runs far past the time limit.
"""
import os

os.makedirs("output/picture", exist_ok=True)
for i in range(3000):
    with open(f"output/picture/junk{i:04d}.txt", "w") as f:
        f.write("x" * 100)
for k in range(1, 301):
    with open(f"output/picture/junk{k:04d}.txt", "w") as f:
        f.write("changed" * k)
    print(f"[Process: {k}/300]", flush=True)
