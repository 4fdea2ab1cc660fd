"""Adversarial: output/picture/label.png is a symlink to a file outside the run (the canary named in
target.txt, which the test made), standing in for a system file. The kit must not follow it (OUT004)."""
import os

import tiny

with open("target.txt") as f:
    TARGET = f.read().strip()


class Trainer(tiny.Trainer):
    def save_pictures(self, epoch):
        link = self.out + "/picture/label.png"
        if os.path.islink(link):  # never write through it: only the kit is under test here
            os.remove(link)
        super().save_pictures(epoch)
        os.remove(link)
        os.symlink(TARGET, link)


tiny.main(Trainer, task="segmentation")
