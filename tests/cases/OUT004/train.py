"""Breaks OUT004 only: a segmentation run that never writes label.png."""
import tiny


class NoLabelPicture(tiny.Trainer):
    task = "segmentation"

    def pictures(self):
        pics = super().pictures()
        del pics["label.png"]
        return pics


tiny.main(NoLabelPicture)
