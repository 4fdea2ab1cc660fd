"""Adversarial (issue 13, row 12): leaves a daemon behind (double fork, setsid, stdio closed), then kills its
parent with SIGKILL and exits 0 with no epoch.

So that a broken sandbox can never make it kill anything else, it aims only at a parent that is the kit's
launcher (its command line names _launch.py) or PID 1 of its own namespace.
"""
import os
import signal
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
ppid = os.getppid()
try:
    with open(f"/proc/{ppid}/cmdline", "rb") as f:
        cmdline = f.read()
except OSError:
    cmdline = b""
if ppid == 1 or b"_launch.py" in cmdline:
    try:
        os.kill(ppid, signal.SIGKILL)
    except OSError:
        pass
time.sleep(0.3)
