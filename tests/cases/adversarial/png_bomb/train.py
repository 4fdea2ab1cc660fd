"""Adversarial: pred.png is a decompression bomb (a few kilobytes declaring 50000x50000 pixels) (OUT005)."""
import struct
import zlib

import tiny


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb(side=50_000):
    row = b"\0" + b"\0" * side  # filter byte + one gray byte per pixel
    raw = zlib.compress(row * 64, 9)  # the first rows only: the header is what declares the size
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")


class Trainer(tiny.Trainer):
    def save_pictures(self, epoch):
        super().save_pictures(epoch)
        with open(self.out + "/picture/pred.png", "wb") as f:
            f.write(bomb())


tiny.main(Trainer, task="segmentation")
