"""Adversarial: writes outside its run folder, into the folder named in target.txt (one the test made):
once through Python (the guard sees it), once through a shell (only OS-level isolation stops it)."""
import os
import subprocess
import sys

with open("target.txt") as f:
    target = f.read().strip()
try:
    with open(os.path.join(target, "from_python.txt"), "w") as f:
        f.write("written from python\n")
except OSError as exc:
    sys.stderr.write(f"python write refused: {exc}\n")
subprocess.run(["sh", "-c", f"echo shell > '{target}/from_shell.txt'"], check=False)
