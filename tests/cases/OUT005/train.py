"""Breaks OUT005 only: pred.png holds JPEG bytes (the name says PNG, the content does not)."""
import os

import tiny


class JpegPred(tiny.Trainer):
    task = "detection"

    def save_pictures(self, epoch):
        os.makedirs(os.path.join(self.out, "picture"), exist_ok=True)
        for name, pic in self.pictures().items():
            pic.convert("RGB").save(os.path.join(self.out, "picture", name), format="JPEG")


tiny.main(JpegPred)
