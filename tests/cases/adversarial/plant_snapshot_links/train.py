"""Adversarial (issue 13, row 2): before each progress line, plants links where the kit will make its next
snapshot folder (../snapshots/NNNN/ next to the working folder): the weights' copy as a link to a canary
file, the pictures' folder as a link to a canary folder (both named by the test in canary.txt and
canary_dir.txt). A kit that copies by following links overwrites the one and fills the other.

It goes through the C library (ctypes), as an attacker would, so that the in-interpreter guard does not
stop it: the kit itself must not follow the links. What it managed is noted in ~/planted.txt.
"""
import ctypes
import os

import tiny

libc = ctypes.CDLL(None, use_errno=True)
with open("canary.txt") as f:
    CANARY = f.read().strip()
with open("canary_dir.txt") as f:
    CANARY_DIR = f.read().strip()


def _c(fn, *args):
    if fn(*args) != 0 and ctypes.get_errno() != 17:  # EEXIST is fine
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def plant(index, model_name):
    snaps = os.path.join(os.getcwd(), "..", "snapshots")
    out = os.path.join(snaps, f"{index:04d}", "output")
    try:
        for folder in (snaps, os.path.dirname(out), out, os.path.join(out, "files")):
            _c(libc.mkdir, folder.encode(), 0o755)
        _c(libc.symlink, CANARY.encode(), os.path.join(out, "files", model_name + ".th").encode())
        _c(libc.symlink, CANARY_DIR.encode(), os.path.join(out, "picture").encode())
        return "planted"
    except OSError as exc:
        return f"refused ({exc.strerror})"


class Trainer(tiny.Trainer):
    def announce(self, epoch):
        with open(os.path.expanduser("~/planted.txt"), "a") as f:
            f.write(f"{epoch}: {plant(epoch, self.model_name)}\n")
        super().announce(epoch)


tiny.main(Trainer, task="segmentation")
