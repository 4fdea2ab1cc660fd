"""Adversarial (issue 13, row 10): tries to take the sandbox launcher's descriptors (pidfd_getfd on its
parent, /proc/<parent>/fd) to report "exit 0" in its name, writes forged records into the guard's log, then
exits with status 7. What it managed goes to output/result.json.
"""
import ctypes
import json
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
SYS_PIDFD_OPEN, SYS_PIDFD_GETFD = 434, 438  # the same on every architecture
result = {}
ppid = os.getppid()
pidfd = libc.syscall(SYS_PIDFD_OPEN, ppid, 0)
result["pidfd_open"] = pidfd if pidfd < 0 else "ok"
if pidfd >= 0:
    taken = []
    for fd in range(3, 16):
        got = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got >= 0:
            taken.append(fd)
            try:
                os.write(got, b'{"op": "exit", "status": 0}\n')
            except OSError:
                pass
    result["pidfd_getfd"] = taken or os.strerror(ctypes.get_errno())
opened = []
try:
    for name in os.listdir(f"/proc/{ppid}/fd"):
        try:
            fd = os.open(f"/proc/{ppid}/fd/{name}", os.O_WRONLY)
            os.write(fd, b'{"op": "exit", "status": 0}\n')
            opened.append(name)
        except OSError:
            pass
except OSError:
    pass
result["proc_fd_opened"] = opened
# The guard's log: where the environment says, else where the kit keeps it (next to the working folder).
log = os.environ.get("PIE_GUARD_LOG") or os.path.join(os.getcwd(), "..", "sandbox-guard.log")
try:
    with open(log, "a") as f:
        for kind, target in (("connect", "203.0.113.9:443"), ("resolve", "forged.example"),
                             ("write", "/forged/path")):
            f.write(json.dumps({"kind": kind, "target": target, "call": "forged"}) + "\n")
    result["log"] = "forged"
except OSError as exc:
    result["log"] = exc.strerror
os.makedirs("output", exist_ok=True)
with open("output/result.json", "w") as f:
    json.dump(result, f)
sys.exit(7)
