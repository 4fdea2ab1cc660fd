"""Breaks PRG002: besides the exact line, a log line that looks like one (no space after the colon)."""
import tiny


class Trainer(tiny.Trainer):
    def announce(self, epoch):
        super().announce(epoch)
        print(f"[Process:{epoch}/{self.epochs}] done", flush=True)


tiny.main(Trainer, task="segmentation")
