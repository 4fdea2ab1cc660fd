"""Breaks OUT001 only: the weights are never written to output/files/<model_name>.th."""
import tiny


class NoWeights(tiny.Trainer):
    task = "detection"
    sleep = 0.3  # leaves the kit time to freeze the script at each progress line

    def save_weights(self, epoch):
        pass  # forgotten: the platform finds no weights at any progress line


tiny.main(NoWeights)
