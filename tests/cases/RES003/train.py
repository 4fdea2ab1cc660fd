"""Breaks RES003: loads the checkpoint strictly, so one tensor of another shape stops the run."""
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
        for name, value in ckpt.items():
            if tuple(value.shape) != tuple(self.state[name].shape):
                raise RuntimeError(f"size mismatch for {name}: copying a param with shape "
                                   f"{tuple(value.shape)}, the shape in current model is {tuple(self.state[name].shape)}")
        self.state = dict(ckpt)


tiny.main(Trainer, task="segmentation")
