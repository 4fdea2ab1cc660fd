"""Breaks RES001: looks for the resume weights under a fixed name, and silently starts afresh."""
import os
import tempfile

import tiny


class Trainer(tiny.Trainer):
    def resume(self):
        resume_path = self.params["resume_path"]
        if not resume_path:
            return
        local = os.path.join(tempfile.mkdtemp(), "best.th")
        if self.s3.downS3Weight(local, tiny._key(resume_path) + "best.th"):
            super().resume()


tiny.main(Trainer, task="segmentation")
