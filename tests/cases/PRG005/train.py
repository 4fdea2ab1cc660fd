"""Breaks PRG005: every progress line is printed twice."""
import tiny


class Trainer(tiny.Trainer):
    def announce(self, epoch):
        super().announce(epoch)
        super().announce(epoch)


tiny.main(Trainer, task="segmentation")
