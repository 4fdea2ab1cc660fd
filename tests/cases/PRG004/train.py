"""Breaks PRG004: stops after the first epoch although auto_termination is 0 (exit status 0)."""
import time

import tiny


class Trainer(tiny.Trainer):
    def epoch(self, epoch):
        if epoch > 1:
            return  # "converged": an early stop the platform did not allow
        super().epoch(epoch)

    def save_trainlog(self, epoch):
        # The run ends after this epoch, so the log says so.
        self.log["end_time"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        super().save_trainlog(epoch)


tiny.main(Trainer, task="segmentation")
