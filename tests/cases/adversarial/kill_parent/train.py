"""Adversarial: kills its parent process with SIGKILL, then exits 0 with no epoch.

So that a broken sandbox can never make it kill anything else, it aims only at a parent that is the kit's
launcher (its command line names _launch.py) or PID 1 of its own namespace.
"""
import os
import signal
import time

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
