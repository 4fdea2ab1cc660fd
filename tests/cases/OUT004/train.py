"""Breaks OUT004 only: a segmentation run that never writes label.png."""
import tiny


class NoLabelPicture(tiny.Trainer):
    task = "segmentation"
    sleep = 0.3  # leaves the kit time to freeze the script at each progress line

    def pictures(self):
        pics = super().pictures()
        del pics["label.png"]
        return pics


tiny.main(NoLabelPicture)
