"""Adversarial: looks for credentials (environment, ~/.aws, the kit's home, other processes' environments).

Everything it finds goes to output/found.txt; the test checks that none of its canaries is there. The
folder the test made for the kit's home is named in home.txt next to this script.
"""
import glob
import os

found = [f"{k}={v}" for k, v in os.environ.items()]
places = [os.path.expanduser("~/.aws/credentials")]
try:
    with open("home.txt") as f:
        places.append(os.path.join(f.read().strip(), ".aws", "credentials"))
except OSError:
    pass
places += glob.glob("/proc/[0-9]*/environ")
for path in places:
    try:
        with open(path, "rb") as f:
            found.append(f"{path}: {f.read(65536)!r}")
    except OSError as exc:
        found.append(f"{path}: {exc}")
os.makedirs("output", exist_ok=True)
with open("output/found.txt", "w") as f:
    f.write("\n".join(found))
