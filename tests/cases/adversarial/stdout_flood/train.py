"""Adversarial: writes a gigabyte to stdout (1 GiB in 1 MiB lines), then exits 0 with no epoch."""
import os

line = b"x" * (1024 * 1024 - 1) + b"\n"
for _ in range(1024):
    view = memoryview(line)
    while view:
        view = view[os.write(1, view):]
