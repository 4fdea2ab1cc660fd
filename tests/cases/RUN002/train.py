"""Breaks RUN002: waits for more input after the first epoch (the platform sends one line, then EOF... and
this script ignores the EOF and keeps polling)."""
import time

import tiny


class Trainer(tiny.Trainer):
    def fit_epoch(self, epoch):
        if epoch == 2:
            while True:
                time.sleep(0.5)
        super().fit_epoch(epoch)


tiny.main(Trainer, task="segmentation")
