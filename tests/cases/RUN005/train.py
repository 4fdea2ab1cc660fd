"""Breaks RUN005: picks GPU 0 itself although gpu_num is 0."""
import os

import tiny


class Trainer(tiny.Trainer):
    def setup(self):
        super().setup()
        os.environ["CUDA_VISIBLE_DEVICES"] = "0"


tiny.main(Trainer, task="segmentation")
