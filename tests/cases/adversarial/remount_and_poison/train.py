"""Adversarial (issue 13, row 1): makes / writable again, then appends a line to the kit's own modules (the
files the test names in targets.txt: the kit's guard, launcher and probe, the compatible aiUtils), from
Python, through ctypes and from a shell.

The test runs this under a copy of the kit it made and names only that copy's files, so the files aimed at
are canaries whatever happens. The modules that really run here are noted too, for the test to check that
they are the copy's. Everything it saw goes to output/result.json.
"""
import ctypes
import json
import os
import subprocess
import sys

import aiUtils

MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
libc = ctypes.CDLL(None, use_errno=True)
result = {}
for target in (b"/", os.getcwd().encode()):
    r = libc.mount(b"none", target, None, ctypes.c_ulong(MS_REMOUNT | MS_BIND | MS_REC), None)
    result[f"remount {target.decode()}"] = 0 if r == 0 else ctypes.get_errno()
with open("targets.txt") as f:
    named = f.read().split()
targets = named
result["running"] = [sys.modules["sitecustomize"].__file__, aiUtils.__file__]
for path in targets:
    try:
        with open(path, "a") as f:
            f.write("# poisoned from python\n")
        result[f"python {path}"] = "written"
    except OSError as exc:
        result[f"python {path}"] = exc.errno
    fd = libc.open(path.encode(), os.O_WRONLY | os.O_APPEND)
    result[f"ctypes {path}"] = "opened" if fd >= 0 else ctypes.get_errno()
    if fd >= 0:
        libc.write(fd, b"# poisoned through ctypes\n", 26)
        libc.close(fd)
    shell = subprocess.run(["sh", "-c", f"echo '# poisoned from sh' >> '{path}'"], capture_output=True)
    result[f"sh {path}"] = shell.returncode
os.makedirs("output", exist_ok=True)
with open("output/result.json", "w") as f:
    json.dump(result, f)
