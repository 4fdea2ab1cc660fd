"""Breaks RUN002: the second epoch never ends (a wait loop whose condition never comes true)."""
import time

import tiny


class Trainer(tiny.Trainer):
    def fit_epoch(self, epoch):
        if epoch == 2:
            while True:
                time.sleep(0.5)
        super().fit_epoch(epoch)


tiny.main(Trainer, task="segmentation")
