"""Breaks RUN001: crashes during the second epoch."""
import tiny


class Trainer(tiny.Trainer):
    def fit_epoch(self, epoch):
        if epoch == 2:
            raise ValueError("shapes (4,3) and (5,3) not aligned")
        super().fit_epoch(epoch)


tiny.main(Trainer, task="segmentation")
