"""The conformant tiny script of benchmarks/overhead_script, writing 20 MB of weights every epoch."""
import os

import tiny


class Trainer(tiny.Trainer):
    sleep = 0.02

    def save_weights(self, epoch):
        os.makedirs(os.path.join(self.out, "files"), exist_ok=True)
        # 5,000,000 float32 values that change every epoch, as a real model's do.
        state = dict(self.state, blob=self.torch.full((5_000_000,), float(epoch)))
        self.torch.save(state, os.path.join(self.out, "files", self.model_name + ".th"))


tiny.main(Trainer, task="segmentation")
