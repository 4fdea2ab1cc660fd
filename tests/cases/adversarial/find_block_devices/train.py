"""Adversarial (issue 13, row 3): looks for block devices (a loop device, a disk) in /dev and through /sys,
and tries to make one with mknod. It never opens a device: it only lists what it can see, in
output/result.json, so the test can check that there is nothing to see.
"""
import json
import os
import stat

found = {"block_in_dev": [], "sys_block": None, "mknod": None}
for root, dirs, files in os.walk("/dev"):
    for name in files + dirs:
        path = os.path.join(root, name)
        try:
            if stat.S_ISBLK(os.lstat(path).st_mode):
                found["block_in_dev"].append(path)
        except OSError:
            pass
for place in ("/sys/block", "/sys/class/block", "/sys/dev/block"):
    try:
        found[place] = sorted(os.listdir(place))
    except OSError as exc:
        found[place] = exc.strerror
try:
    os.mknod("loop-made-here", 0o600 | stat.S_IFBLK, os.makedev(7, 0))
    found["mknod"] = "made"
    os.remove("loop-made-here")
except OSError as exc:
    found["mknod"] = exc.strerror
os.makedirs("output", exist_ok=True)
with open("output/result.json", "w") as f:
    json.dump(found, f)
