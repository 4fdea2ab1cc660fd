"""Breaks OUT001 only: the weights are never written to output/files/<model_name>.th."""
import tiny


class NoWeights(tiny.Trainer):
    task = "detection"

    def save_weights(self, epoch):
        pass  # forgotten: the platform finds no weights at any progress line


tiny.main(NoWeights)
