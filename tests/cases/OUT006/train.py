"""Breaks OUT006 only: pred.png is saved at half the size of image.png and label.png."""
from PIL import Image

import tiny


class HalfSizePred(tiny.Trainer):
    task = "segmentation"

    def pictures(self):
        pics = super().pictures()
        pred = pics["pred.png"]
        # NEAREST keeps the class colours exact: only the size is wrong.
        pics["pred.png"] = pred.resize((max(1, pred.width // 2), max(1, pred.height // 2)), Image.NEAREST)
        return pics


tiny.main(HalfSizePred)
