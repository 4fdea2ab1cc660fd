"""Adversarial: forks until the system refuses (at most 2000), each child sleeping forever; then fails.

The number of children it managed to start goes to stderr ("forked N"); the sandbox's process bound keeps
it small. Exits 3 (RUN001).
"""
import os
import sys
import time

n = 0
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(10**6)
        os._exit(0)
    n += 1
sys.stderr.write(f"forked {n}\n")
sys.exit(3)
