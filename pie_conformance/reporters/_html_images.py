"""Pictures for the HTML report: read once per digest, downscaled, re-encoded as small PNG data URIs.

The pictures come from the script under test, so they are never copied into the page as they are: each is
decoded with a pixel budget and re-encoded by the kit, which also means a file that is not a PNG can never
smuggle anything into the page. Identical files (the same label picture at every epoch) are stored once.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

#: Largest side of a picture in the report, in pixels.
MAX_SIDE = 256
#: Files larger than this are not read at all (the platform's pictures are a few hundred KiB).
MAX_FILE_BYTES = 32 * 1024 * 1024
#: Decoded pictures larger than this many pixels are refused (a decompression bomb, not a picture).
MAX_PIXELS = 64 * 1024 * 1024
#: Names that hint at a picture of labels or predictions: downscaled without mixing colours, so a class
#: colour stays a class colour.
_CRISP = ("label", "pred", "mask")


@dataclass(frozen=True)
class Shown:
    """One picture as the report shows it: a key into the image table, or why there is none."""

    name: str
    image: str | None  # key into PictureStore.images; None: see note
    note: str | None = None  # why there is no image, or what was done to it (e.g. downscaled)
    width: int | None = None  # size of the original
    height: int | None = None


def _palette_png(rgb: object) -> bytes | None:
    """An exact palette PNG when the picture has at most 256 colours (class-coloured pictures do)."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(rgb)
    flat = arr.reshape(-1, 3)
    packed = (flat[:, 0].astype(np.uint32) << 16) | (flat[:, 1].astype(np.uint32) << 8) | flat[:, 2]
    colours, index = np.unique(packed, return_inverse=True)
    if len(colours) > 256:
        return None
    pal = Image.fromarray(index.reshape(arr.shape[:2]).astype(np.uint8), "P")
    palette = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.uint8)
    pal.putpalette(palette.reshape(-1).tolist())
    out = io.BytesIO()
    pal.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _encode(path: Path, name: str, max_side: int) -> tuple[bytes, int, int, bool]:
    """(png bytes, original width, original height, downscaled) or ValueError saying why not."""
    from PIL import Image

    with open(path, "rb") as f:
        head = f.read(8)
        if head != b"\x89PNG\r\n\x1a\n":
            raise ValueError("not a PNG file (wrong signature)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise ValueError(f"{width}x{height} pixels is too large to show")
                im.load()
                rgb = (
                    im.convert("RGBA")
                    if "A" in im.getbands() or "transparency" in im.info
                    else im.convert("RGB")
                )
        except ValueError:
            raise
        except Exception as exc:  # any decoder failure of an untrusted file is a note, not a crash
            raise ValueError(f"cannot be decoded: {type(exc).__name__}") from None
    scaled = max(width, height) > max_side
    if scaled:
        crisp = any(word in name.lower() for word in _CRISP)
        rgb.thumbnail((max_side, max_side), Image.Resampling.NEAREST if crisp else Image.Resampling.LANCZOS)
    data = _palette_png(rgb) if rgb.mode == "RGB" else None
    if data is None:
        out = io.BytesIO()
        rgb.save(out, format="PNG", optimize=True)
        data = out.getvalue()
    return data, width, height, scaled


@dataclass
class PictureStore:
    """Every picture of a report, once per content digest, as ``data:`` URIs."""

    max_side: int = MAX_SIDE
    images: dict[str, str] = field(default_factory=dict)  # key -> data URI
    _by_digest: dict[str, Shown] = field(default_factory=dict)
    files_read: int = 0

    def add(self, path: Path, name: str) -> Shown:
        """The picture at ``path`` (shown under ``name``), decoded once per distinct content."""
        try:
            st = os.lstat(path)
        except OSError:
            return Shown(name, None, "missing")
        if not os.path.isfile(path) or os.path.islink(path):
            return Shown(name, None, "not a regular file")
        if st.st_size == 0:
            return Shown(name, None, "empty file")
        if st.st_size > MAX_FILE_BYTES:
            return Shown(name, None, f"{st.st_size // (1024 * 1024)} MiB: too large to show")
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return Shown(name, None, "unreadable")
        seen = self._by_digest.get(digest)
        if seen is not None:
            return Shown(name, seen.image, seen.note, seen.width, seen.height)
        self.files_read += 1
        try:
            data, width, height, scaled = _encode(path, name, self.max_side)
        except (OSError, ValueError) as exc:
            shown = Shown(name, None, str(exc))
        else:
            key = f"p{len(self.images)}"
            self.images[key] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            note = f"{width}x{height}, shown at most {self.max_side} px a side" if scaled else None
            shown = Shown(name, key, note, width, height)
        self._by_digest[digest] = shown
        return shown
