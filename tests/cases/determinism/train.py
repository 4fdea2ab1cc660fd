"""A fast script (no torch) whose outputs change right after each progress line, for the determinism test.

It reads its data, writes a trainlog and a weights file that is not a torch file, no pictures, and
starts rewriting the trainlog for the next epoch the moment it has printed a progress line. Only a
snapshot taken exactly when the line is printed gives the same findings every time.
"""
import json
import os
import time

from aiUtils import aiUtils

params = json.loads(input())
epochs = int(params["epochs"])
s3 = aiUtils.s3GetImg(datasetId=params["dataset_id"])
prefix = "/".join(s3.path.split("/")[3:])
for split in ("train", "valid"):
    s3.getImgXmlArray(s3.getImages(prefix + split + "/images")[0])

os.makedirs("output/files", exist_ok=True)
log = {"training_id": params["training_id"], "create_time": time.strftime("%Y-%m-%d %H:%M:%S"),
       "description": {"loss": "损失"}, "epochs": [], "best": "", "end_time": ""}


def write_log():
    with open("output/trainlog.json", "w", encoding="utf-8") as f:
        json.dump(log, f)


for k in range(1, epochs + 1):
    with open(os.path.join("output/files", params["model_name"] + ".th"), "wb") as f:
        f.write(b"epoch %d" % k)
    log["epochs"].append({"epoch": k, "train": [{"class": "all", "values": {"loss": 1.0 / k}}],
                          "valid": [{"class": "all", "values": {"loss": 1.0 / k}}]})
    log["best"] = {"loss": 1.0 / k}
    if k == epochs:
        log["end_time"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_log()
    print(f"[Process: {k}/{epochs}]")
    # The next epoch begins at once: a snapshot taken late would see an extra epoch in the log.
    if k < epochs:
        log["epochs"].append({"epoch": k + 1, "train": [], "valid": []})
        write_log()
        log["epochs"].pop()
