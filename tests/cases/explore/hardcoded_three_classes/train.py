"""Segmentation that hard-codes the three classes (and background) of the dataset it was written for.

It reads the traincfg but keeps its own class table, so it is conformant for the kit's baseline dataset
and paints foreign colours (OUT007) for any other set of classes.
"""

import tiny

CLASSES = [(0, (0, 0, 0)), (100, (255, 0, 0)), (150, (0, 0, 255)), (255, (255, 255, 255))]


class HardCoded(tiny.Trainer):
    def setup(self):
        super().setup()
        self.values = [value for value, _colour in CLASSES]
        self.colors = [colour for _value, colour in CLASSES]
        self.labels = [{"class_value": value, "class_color": ",".join(map(str, colour))}
                       for value, colour in CLASSES]


tiny.main(HardCoded, task="segmentation")
