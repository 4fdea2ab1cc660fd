"""Breaks OUT009 only (a warning): a per-epoch copy of pred.png is kept in output/picture/."""
import os

import tiny


class PerEpochPictures(tiny.Trainer):
    task = "detection"

    def save_pictures(self, epoch):
        super().save_pictures(epoch)
        pred = self.pictures()["pred.png"]
        pred.save(os.path.join(self.out, "picture", f"pred_epoch{epoch}.png"), format="PNG")


tiny.main(PerEpochPictures)
