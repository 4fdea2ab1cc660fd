"""A tiny conformant PIE-Engine training script, shared by the example cases through a symlink.

It follows the platform contract to the letter with a numpy "model" (one colour centroid per class), so it
runs in about the time it takes to import torch. A case that breaks one rule subclasses ``Trainer`` and
overrides the one step it gets wrong.
"""

import io
import json
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw

from aiUtils import aiUtils

PICTURES = {
    "segmentation": ("image.png", "label.png", "pred.png"),
    "detection": ("pred.png",),
    "change_detection": ("A.png", "B.png", "label.png", "pred.png"),
}


def _key(url):
    """The key part of an s3://bucket/key URL (the guide's idiom)."""
    return "/".join(url.split("/")[3:])


class Trainer:
    """One training run, step by step; every method is one thing the contract asks for."""

    task = "segmentation"
    sleep = 0.0  # seconds of "training" per epoch

    def __init__(self):
        self.basedir = os.getcwd()
        self.out = os.path.join(self.basedir, "output")

    # -- parameters ------------------------------------------------------------------------------
    def read_params(self):
        return json.loads(input())

    def setup(self):
        p = self.params = self.read_params()
        self.epochs = int(p["epochs"])
        self.model_name = p["model_name"]
        self.training_id = p["training_id"]
        self.class_names = p["class_name"].split(",")
        self.labels = json.loads(p["label"])
        self.colors = [tuple(int(c) for c in lab["class_color"].split(",")) for lab in self.labels]
        self.values = [int(lab["class_value"]) for lab in self.labels]
        self.width, self.height = (int(v) for v in p["load_size"].split(","))
        self.gpu_num = int(p["gpu_num"])
        self.auto_termination = int(p["auto_termination"])

    # -- data --------------------------------------------------------------------------------------
    def connect(self):
        dataset_id = self.params["dataset_id"] or None
        self.s3 = aiUtils.s3GetImg(datasetId=dataset_id)
        self.prefix = _key(self.s3.path)

    def image_folder(self):
        return {"segmentation": "images", "detection": "images", "change_detection": "A"}[self.task]

    def read_image(self, key):
        return np.asarray(Image.open(io.BytesIO(self.s3.getImgXmlArray(key))).convert("RGB"), dtype=np.float32)

    def read_label(self, base, key, stem):
        # The label has the image's name (the platform's layout), or the same stem with .png.
        try:
            return self.s3.getImgXmlArray(base + "/labels/" + key.rsplit("/", 1)[1])
        except RuntimeError:
            return self.s3.getImgXmlArray(base + "/labels/" + stem + ".png")

    def read_split(self, split):
        keys = self.s3.getImages(self.prefix + split + "/" + self.image_folder())
        samples = []
        for key in keys:
            stem = key.rsplit("/", 1)[1].rsplit(".", 1)[0]
            base = key.rsplit("/", 2)[0]
            if self.task == "detection":
                image = self.read_image(key)
                label = self.s3.getImgXmlArray(base + "/labels/" + stem + ".xml")
                samples.append((image, None, label))
            elif self.task == "segmentation":
                image = self.read_image(key)
                label = np.asarray(Image.open(io.BytesIO(self.read_label(base, key, stem))))
                samples.append((image, None, label))
            else:
                a = self.read_image(key)
                b_keys = [k for k in self.s3.getImages(base + "/B/") if k.rsplit("/", 1)[1].startswith(stem + ".")]
                b = self.read_image(b_keys[0])
                label = np.asarray(Image.open(io.BytesIO(self.read_label(base, key, stem))))
                samples.append((a, b, label))
        return samples

    def load_data(self):
        self.train = self.read_split("train")
        self.valid = self.read_split("valid")

    # -- model -------------------------------------------------------------------------------------
    def init_model(self):
        import torch

        self.torch = torch
        n = len(self.labels)
        self.state = {
            "centroids": torch.zeros((n, 3), dtype=torch.float32),
            "steps": torch.zeros((), dtype=torch.int64),
        }

    def resume(self):
        resume_path = self.params["resume_path"]
        if not resume_path:
            return
        local = os.path.join(tempfile.mkdtemp(), self.model_name + ".th")
        if not self.s3.downS3Weight(local, _key(resume_path) + self.model_name + ".th"):
            raise RuntimeError("resume weights not found")
        ckpt = self.torch.load(local, map_location="cpu", weights_only=True)
        # Shape-matching load: take what fits, keep the rest.
        for name, value in ckpt.items():
            if name in self.state and tuple(value.shape) == tuple(self.state[name].shape):
                self.state[name] = value.clone()

    def class_means(self, samples):
        sums = np.zeros((len(self.labels), 3))
        counts = np.zeros(len(self.labels))
        for image, _b, label in samples:
            if self.task == "segmentation":
                for i, v in enumerate(self.values):
                    m = label == v
                    sums[i] += image[m].sum(axis=0)
                    counts[i] += m.sum()
            else:
                sums[0] += image.reshape(-1, 3).sum(axis=0)
                counts[0] += image.shape[0] * image.shape[1]
        return sums / np.maximum(counts, 1)[:, None]

    def fit_epoch(self, epoch):
        means = self.class_means(self.train)
        c = self.state["centroids"].numpy()
        self.state["centroids"] = self.torch.from_numpy((c + 0.5 * (means - c)).astype(np.float32))
        self.state["steps"] = self.state["steps"] + 1
        if self.sleep:
            time.sleep(self.sleep)

    def predict(self, image):
        c = self.state["centroids"].numpy()
        d = ((image[:, :, None, :] - c[None, None, :, :]) ** 2).sum(axis=-1)
        return d.argmin(axis=-1)

    def metrics(self, samples):
        correct = total = 0
        for image, _b, label in samples:
            if self.task != "segmentation":
                continue
            idx = np.searchsorted(np.array(sorted(self.values)), label)
            order = np.argsort(self.values)
            truth = order[np.clip(idx, 0, len(order) - 1)]
            pred = self.predict(image)
            correct += int((pred == truth).sum())
            total += truth.size
        acc = correct / total if total else 0.5
        return {"precision": acc, "recall": acc, "score": acc, "loss": float(1.0 - acc)}

    # -- outputs -----------------------------------------------------------------------------------
    def colorise(self, index_map):
        lut = np.array(self.colors, dtype=np.uint8)
        return lut[index_map]

    def pictures(self):
        image, b, label = self.valid[0]
        shown = image.astype(np.uint8)
        if self.task == "detection":
            pic = Image.fromarray(shown)
            ImageDraw.Draw(pic).rectangle([4, 4, 20, 20], outline=self.colors[0])
            return {"pred.png": pic}
        if self.task == "segmentation":
            truth = np.zeros(label.shape, dtype=np.int64)
            for i, v in enumerate(self.values):
                truth[label == v] = i
            return {
                "image.png": Image.fromarray(shown),
                "label.png": Image.fromarray(self.colorise(truth)),
                "pred.png": Image.fromarray(self.colorise(self.predict(image))),
            }
        change = (label > 0).astype(np.int64)
        diff = (np.abs(image - b).sum(axis=-1) > 60).astype(np.int64)
        return {
            "A.png": Image.fromarray(shown),
            "B.png": Image.fromarray(b.astype(np.uint8)),
            "label.png": Image.fromarray(self.colorise(change)),
            "pred.png": Image.fromarray(self.colorise(diff)),
        }

    def save_weights(self, epoch):
        os.makedirs(os.path.join(self.out, "files"), exist_ok=True)
        self.torch.save(self.state, os.path.join(self.out, "files", self.model_name + ".th"))

    def save_pictures(self, epoch):
        os.makedirs(os.path.join(self.out, "picture"), exist_ok=True)
        for name, pic in self.pictures().items():
            pic.save(os.path.join(self.out, "picture", name), format="PNG")

    def trainlog_entry(self, epoch):
        train, valid = self.metrics(self.train), self.metrics(self.valid)
        return {
            "epoch": str(epoch),
            "train": [{"class": "all", "values": train}],
            "valid": [{"class": "all", "values": valid}],
        }

    def save_trainlog(self, epoch):
        entry = self.trainlog_entry(epoch)
        self.log["epochs"].append(entry)
        self.log["best"] = {k: v for k, v in entry["valid"][0]["values"].items() if k != "loss"}
        if epoch == self.epochs:
            self.log["end_time"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        path = os.path.join(self.out, "trainlog.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.log, f, ensure_ascii=False, indent=2)
        os.replace(path + ".tmp", path)

    def announce(self, epoch):
        print(f"[Process: {epoch}/{self.epochs}]", flush=True)

    # -- the run -----------------------------------------------------------------------------------
    def run(self):
        self.setup()
        self.connect()
        self.init_model()
        self.resume()
        self.load_data()
        self.log = {
            "training_id": self.training_id,
            "create_time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()),
            "description": {"precision": "精确度", "recall": "召回率", "score": "F1分数", "loss": "损失"},
            "epochs": [],
            "best": "",
            "end_time": "",
        }
        for epoch in range(1, self.epochs + 1):
            self.epoch(epoch)
        return 0

    def epoch(self, epoch):
        self.fit_epoch(epoch)
        self.save_weights(epoch)
        self.save_pictures(epoch)
        self.save_trainlog(epoch)
        self.announce(epoch)


def main(trainer_class=Trainer, task=None):
    """Run a trainer and exit with its status."""
    trainer = trainer_class()
    if task is not None:
        trainer.task = task
    sys.exit(trainer.run())
