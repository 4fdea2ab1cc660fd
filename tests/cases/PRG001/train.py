"""Breaks PRG001: the script reports its epochs in its own words, never with a progress line."""
import tiny


class Trainer(tiny.Trainer):
    def announce(self, epoch):
        print(f"epoch {epoch} of {self.epochs} finished", flush=True)


tiny.main(Trainer, task="segmentation")
