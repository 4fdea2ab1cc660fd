"""Breaks RES002: the resumed run crashes (it expects a checkpoint dict, the platform gives a state dict)."""
import os
import tempfile

import tiny


class Trainer(tiny.Trainer):
    def resume(self):
        resume_path = self.params["resume_path"]
        if not resume_path:
            return
        local = os.path.join(tempfile.mkdtemp(), self.model_name + ".th")
        self.s3.downS3Weight(local, tiny._key(resume_path) + self.model_name + ".th")
        ckpt = self.torch.load(local, map_location="cpu", weights_only=True)
        self.state = dict(ckpt["model"])


tiny.main(Trainer, task="segmentation")
