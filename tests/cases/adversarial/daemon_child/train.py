"""Adversarial: leaves a daemon behind (double fork, setsid, stdio closed), then exits 0 with no epoch."""
import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        time.sleep(10**6)
    os._exit(0)
time.sleep(0.2)
