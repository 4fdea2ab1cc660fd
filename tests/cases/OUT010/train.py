"""Breaks OUT010 only (a warning): an extra copy of the weights lands next to train.py.

The guide's notebook builds paths as ``basedir + '/output' + model_name + '.th'``: the missing '/' makes
``output<model_name>.th`` in the working directory, which the platform never uploads.
"""
import os

import tiny


class GuideSlipCopy(tiny.Trainer):
    task = "detection"

    def save_weights(self, epoch):
        super().save_weights(epoch)
        output_save_dir = self.basedir + "/output"
        self.torch.save(self.state, output_save_dir + self.model_name + ".th")


tiny.main(GuideSlipCopy)
