"""Breaks LOG006 at run time: epochs are numbered from 0 in the trainlog (the loop variable, not epoch + 1)."""
import tiny


class Trainer(tiny.Trainer):
    def trainlog_entry(self, epoch):
        entry = super().trainlog_entry(epoch)
        entry["epoch"] = str(epoch - 1)
        return entry


tiny.main(Trainer, task="segmentation")
