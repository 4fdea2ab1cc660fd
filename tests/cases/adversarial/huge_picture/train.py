"""Adversarial: pred.png grows to 64 MiB of noise; the sandbox's file-size limit stops the write (RUN001)."""
import os

import tiny


class Trainer(tiny.Trainer):
    def save_pictures(self, epoch):
        super().save_pictures(epoch)
        block = os.urandom(1024 * 1024)
        with open(self.out + "/picture/pred.png", "ab") as f:
            for _ in range(64):
                f.write(block)


tiny.main(Trainer, task="segmentation")
