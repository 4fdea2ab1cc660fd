"""Adversarial (issue 13, row 9): names files in output/ with bytes that are not UTF-8 (and a control
character), then announces its only epoch, so that every report has to show names it cannot decode.
"""
import os

os.makedirs(b"output/picture", exist_ok=True)
for name in (b"pred\xff\xfe.png", b"label\x1b[31m.png", b"caf\xe9.th"):
    with open(b"output/picture/" + name, "wb") as f:
        f.write(b"not a picture")
with open(b"output/\xc3\x28trainlog.json", "w") as f:
    f.write("{}")
print("[Process: 1/1]", flush=True)
