"""The conformant tiny script with 20 ms of "training" per epoch, for benchmarks/overhead.py."""
import tiny


class Trainer(tiny.Trainer):
    sleep = 0.02


tiny.main(Trainer, task="segmentation")
