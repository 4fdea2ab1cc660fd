"""Breaks OUT008 only (a warning): the pictures are written at the first epoch and never again."""
import tiny


class StalePictures(tiny.Trainer):
    task = "detection"

    def save_pictures(self, epoch):
        if epoch == 1:
            super().save_pictures(epoch)


tiny.main(StalePictures)
