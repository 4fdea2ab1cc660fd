"""Breaks PRG006: progress lines are printed without a flush, so a pipe only gets them at exit."""
import tiny


class Trainer(tiny.Trainer):
    sleep = 0.3

    def announce(self, epoch):
        print(f"[Process: {epoch}/{self.epochs}]")


tiny.main(Trainer, task="segmentation")
