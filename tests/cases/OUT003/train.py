"""Breaks OUT003 only (a warning): the model never changes, so every epoch saves the same weights."""
import time

import tiny


class FrozenModel(tiny.Trainer):
    task = "detection"

    def fit_epoch(self, epoch):
        time.sleep(0.01)  # "trains", but never updates the state


tiny.main(FrozenModel)
