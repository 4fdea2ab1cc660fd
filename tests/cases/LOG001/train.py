"""Breaks LOG001 at run time: the trainlog is written once, after the last epoch, not at each progress line."""
import json
import os
import time

import tiny


class Trainer(tiny.Trainer):
    def save_trainlog(self, epoch):
        entry = self.trainlog_entry(epoch)
        self.log["epochs"].append(entry)
        self.log["best"] = {k: v for k, v in entry["valid"][0]["values"].items() if k != "loss"}

    def run(self):
        status = super().run()
        self.log["end_time"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        with open(os.path.join(self.out, "trainlog.json"), "w", encoding="utf-8") as f:
            json.dump(self.log, f)
        return status


tiny.main(Trainer, task="segmentation")
