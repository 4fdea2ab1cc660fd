"""Breaks RUN006: validates on the training images instead of reading the validation split."""
import tiny


class Trainer(tiny.Trainer):
    def load_data(self):
        self.train = self.read_split("train")
        self.valid = self.train


tiny.main(Trainer, task="segmentation")
