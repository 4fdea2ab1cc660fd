"""Adversarial (issue 13, row 7): its weights file is a valid torch.save archive of about 1 MB whose one
tensor is stored deflated and inflates to 1 GiB, so that whoever loads it (the kit checking OUT002 or
making the resume-partial checkpoint) needs a gigabyte of memory.
"""
import io
import os
import struct
import zipfile

import tiny

NUMEL = 256 << 20  # float32: 1 GiB
_SMALL = 12345  # the element count of the tensor actually saved, then rewritten in the pickle


def bomb(torch):
    buf = io.BytesIO()
    torch.save({"weight": torch.zeros(_SMALL)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compresslevel=1) as dst:
        for name in src.namelist():
            if name.endswith("data.pkl"):
                # The count appears twice (the storage's size and the tensor's shape), as a 2-byte int.
                pickled = src.read(name).replace(b"M" + struct.pack("<H", _SMALL),
                                                 b"J" + struct.pack("<i", NUMEL))
                dst.writestr(name, pickled)
            elif name.endswith("/data/0"):
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(info, "w") as f:
                    chunk = bytes(1 << 20)
                    for _ in range(NUMEL * 4 >> 20):
                        f.write(chunk)
            else:
                dst.writestr(name, src.read(name))
    return out.getvalue()


class Trainer(tiny.Trainer):
    _bomb = None

    def save_weights(self, epoch):
        if Trainer._bomb is None:
            Trainer._bomb = bomb(self.torch)
        os.makedirs(os.path.join(self.out, "files"), exist_ok=True)
        with open(os.path.join(self.out, "files", self.model_name + ".th"), "wb") as f:
            f.write(Trainer._bomb)

    def resume(self):
        pass  # it never loads its own bomb


tiny.main(Trainer, task="segmentation")
