"""Breaks OUT002 only: the whole model object is pickled instead of its state dict."""
import os

import tiny


class PickledModel(tiny.Trainer):
    task = "detection"

    def save_weights(self, epoch):
        torch = self.torch
        model = torch.nn.Linear(3, len(self.labels))
        with torch.no_grad():
            model.weight.copy_(self.state["centroids"])
        os.makedirs(os.path.join(self.out, "files"), exist_ok=True)
        # torch.save(model) pickles the class: weights_only=True refuses to load it.
        torch.save(model, os.path.join(self.out, "files", self.model_name + ".th"))


tiny.main(PickledModel)
