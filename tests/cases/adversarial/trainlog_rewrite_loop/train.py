"""Adversarial: a thread rewrites output/trainlog.json non-atomically in a tight loop (truncate, write half,
pause, write the rest), so at any moment the file is most likely half written (LOG002)."""
import json
import os
import threading
import time

import tiny


class Trainer(tiny.Trainer):
    def save_trainlog(self, epoch):
        super().save_trainlog(epoch)
        if epoch == 1:
            threading.Thread(target=self.rewrite, daemon=True).start()
        time.sleep(0.05)

    def rewrite(self):
        path = os.path.join(self.out, "trainlog.json")
        while True:
            text = json.dumps(self.log, ensure_ascii=False).encode("utf-8")
            with open(path, "wb") as f:
                f.write(text[: len(text) // 2])
                f.flush()
                time.sleep(0.02)
                f.write(text[len(text) // 2 :])


tiny.main(Trainer, task="segmentation")
