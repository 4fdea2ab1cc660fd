"""Breaks PRG003: N is the number of training images, not the traincfg's epochs."""
import tiny


class Trainer(tiny.Trainer):
    def announce(self, epoch):
        print(f"[Process: {epoch}/{len(self.train)}]", flush=True)


tiny.main(Trainer, task="segmentation")
