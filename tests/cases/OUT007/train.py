"""Breaks OUT007 only: label.png is smoothed, so its class boundaries hold colours of no class."""
from PIL import ImageFilter

import tiny


class SmoothedLabel(tiny.Trainer):
    task = "segmentation"

    def pictures(self):
        pics = super().pictures()
        # A blur (like bilinear resizing) mixes neighbouring class colours at every boundary.
        pics["label.png"] = pics["label.png"].filter(ImageFilter.SMOOTH_MORE)
        return pics


tiny.main(SmoothedLabel)
