"""Adversarial (issue 13, row 8): 16 sparse files of 250 MiB each in output/ (4 KiB of real data each), so
that a kit copying apparent sizes writes 4 GB per snapshot. Two progress lines.
"""
import os

os.makedirs("output/files", exist_ok=True)
for epoch in (1, 2):
    for i in range(16):
        with open(f"output/files/sparse{i:02d}.bin", "wb") as f:
            f.seek(125 << 20)
            f.write(os.urandom(4096))
            f.truncate(250 << 20)
    print(f"[Process: {epoch}/2]", flush=True)
