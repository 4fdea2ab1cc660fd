"""Breaks RUN004: writes a "cleaned" image back into the dataset."""
import tiny


class Trainer(tiny.Trainer):
    def load_data(self):
        super().load_data()
        key = self.prefix + "train/images/cleaned.png"
        self.s3.s3.put_object(Bucket=self.s3.bucketName, Key=key, Body=b"not really a png")


tiny.main(Trainer, task="segmentation")
