"""Safe inspection of the pictures a script writes to ``output/picture/`` (PNG only, bounded).

Everything here reads files the script under test produced, so nothing trusts them: the PNG header is
parsed by hand before Pillow sees the file, so a decompression bomb (a small file that declares huge
dimensions) is refused without allocating its pixels; Pillow's own bomb warning and exception are caught
and never reach the user; byte and pixel limits bound memory and time. Colour censuses use numpy and a
lookup table, so checking a conformant label picture costs one pass over its pixels.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from pie_conformance.facts import ColourCensus, PictureInfo

__all__ = [
    "MAX_PICTURE_BYTES",
    "MAX_PICTURE_PIXELS",
    "PNG_SIGNATURE",
    "ColourCensus",
    "PictureError",
    "PictureInfo",
    "colour_census",
    "inspect_picture",
    "read_rgb",
    "sniff_format",
]

#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Largest picture file the kit decodes (bytes).
MAX_PICTURE_BYTES = 32 * 1024 * 1024
#: Largest picture the kit decodes (width x height): 4096 x 4096, far above any training tile.
MAX_PICTURE_PIXELS = 4096 * 4096

# Magic numbers of formats a misnamed picture most often has, so a message can say what the file is.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"PK\x03\x04", "a ZIP archive (e.g. torch.save output)"),
    (b"%PDF", "PDF"),
    (b"<?xml", "XML/SVG text"),
    (b"<svg", "SVG text"),
)

_SAVE_PNG_HINT = (
    "save it as PNG: Image.fromarray(array).save(path, format='PNG') or cv2.imwrite(path, array) "
    "with a path ending in .png"
)


class PictureError(ValueError):
    """A picture could not be read safely (the message says why in plain words)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        #: True when the picture is past the kit's decode limit rather than broken (OUT011, not OUT005).
        self.too_large = too_large


def sniff_format(head: bytes) -> str | None:
    """Name the file format that ``head`` (the first bytes of a file) starts with, or None if unknown."""
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def _png_header(head: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG has right after the signature."""
    # signature (8) | length (4) | b"IHDR" (4) | width (4) | height (4) | depth, colour, ... (5) | crc (4)
    if len(head) < 33:
        raise PictureError("is cut short: it ends inside the PNG header")
    length, ctype = struct.unpack(">I4s", head[8:16])
    if ctype != b"IHDR" or length != 13:
        raise PictureError("is not a valid PNG: its first chunk is not the IHDR header")
    (crc,) = struct.unpack(">I", head[29:33])
    if zlib.crc32(head[12:29]) & 0xFFFFFFFF != crc:
        raise PictureError("is corrupt: the PNG header's checksum does not match")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _open_checked(path: Path, max_bytes: int, max_pixels: int) -> tuple[object, int, int]:
    """Open ``path`` with Pillow after the byte, signature and pixel checks; raises PictureError."""
    try:
        if path.is_symlink():
            raise PictureError("is a symbolic link, not a file")
        size = path.stat().st_size
    except OSError as exc:
        raise PictureError(f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise PictureError("is empty (0 bytes)")
    if size > max_bytes:
        raise PictureError(f"is {size:,} bytes, over the limit of {max_bytes:,} bytes", too_large=True)
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise PictureError(f"cannot be read ({exc.strerror or exc})") from None
    fmt = sniff_format(head)
    if fmt != "PNG":
        what = f"is {fmt} data" if fmt else "does not start with the PNG signature"
        raise PictureError(f"{what}, not a PNG")
    width, height = _png_header(head)
    if width == 0 or height == 0:
        raise PictureError(f"has no pixels ({width}x{height})")
    if width * height > max_pixels:
        # Refused from the header alone: decoding would allocate width*height pixels.
        raise PictureError(
            f"declares {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
            "(a decompression bomb or a picture far larger than a training tile)",
            too_large=True,
        )
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Our own limit is stricter than Pillow's; its warning must not reach the user.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path, formats=["PNG"])
    except Image.DecompressionBombError:
        raise PictureError(f"declares {width}x{height} pixels: refused as a decompression bomb",
                           too_large=True) from None
    except Exception as exc:  # Pillow raises many types for corrupt input; all mean "not a decodable PNG"
        raise PictureError(f"is not a decodable PNG ({_plain(exc)})") from None
    return img, width, height


def _plain(exc: BaseException) -> str:
    """A one-line, bounded description of a decoder error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _decode(img: object) -> None:
    """Decode every pixel (Pillow opens lazily), turning any failure into a PictureError."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()  # type: ignore[attr-defined]
    except Image.DecompressionBombError:
        raise PictureError("was refused as a decompression bomb while decoding") from None
    except Exception as exc:
        if "truncated" in str(exc).lower() or isinstance(exc, EOFError):
            raise PictureError("is truncated: its pixel data ends early (the file was cut off)") from None
        raise PictureError(f"is not a decodable PNG ({_plain(exc)})") from None


def _hint_for(problem: str) -> str:
    """The fix to suggest for a picture problem."""
    if "symbolic link" in problem:
        return "write the picture itself to output/picture/; the platform uploads files, not links"
    if "empty" in problem or "truncated" in problem or "cut short" in problem:
        return (
            "write the whole picture before printing the progress line (close or flush the file first); "
            + _SAVE_PNG_HINT
        )
    if "over the limit" in problem or "bomb" in problem:
        return "save the picture at the training tile's size (load_size), not larger"
    if "not a PNG" in problem or "PNG signature" in problem:
        return "the name ends in .png but the bytes are another format; " + _SAVE_PNG_HINT
    return _SAVE_PNG_HINT


def inspect_picture(
    path: str | Path,
    *,
    max_bytes: int = MAX_PICTURE_BYTES,
    max_pixels: int = MAX_PICTURE_PIXELS,
) -> PictureInfo:
    """Check that ``path`` is a non-empty PNG within the limits whose every pixel decodes; never raises."""
    try:
        img, width, height = _open_checked(Path(path), max_bytes, max_pixels)
        try:
            _decode(img)
            mode = str(img.mode)  # type: ignore[attr-defined]
        finally:
            img.close()  # type: ignore[attr-defined]
    except PictureError as exc:
        return PictureInfo(ok=False, problem=str(exc), hint=_hint_for(str(exc)), too_large=exc.too_large)
    return PictureInfo(ok=True, width=width, height=height, mode=mode)


def read_rgb(
    path: str | Path,
    *,
    max_bytes: int = MAX_PICTURE_BYTES,
    max_pixels: int = MAX_PICTURE_PIXELS,
) -> np.ndarray:
    """Decode ``path`` into an ``(height, width, 3)`` uint8 array (alpha dropped); raises PictureError."""
    img, _, _ = _open_checked(Path(path), max_bytes, max_pixels)
    try:
        _decode(img)
        try:
            rgb = img.convert("RGB")  # type: ignore[attr-defined]
        except Exception as exc:
            raise PictureError(f"cannot be read as RGB colours ({_plain(exc)})") from None
        return np.asarray(rgb, dtype=np.uint8)
    finally:
        img.close()  # type: ignore[attr-defined]


def _pack(rgb: np.ndarray) -> np.ndarray:
    """One uint32 per pixel: 0xRRGGBB."""
    flat = rgb.reshape(-1, 3)
    # Channel by channel, in place: a uint32 copy of all three channels would cost four times as much.
    packed = flat[:, 0].astype(np.uint32) << 16
    packed |= flat[:, 1].astype(np.uint32) << 8
    packed |= flat[:, 2]
    return packed


def _unpack(code: int) -> tuple[int, int, int]:
    return ((code >> 16) & 0xFF, (code >> 8) & 0xFF, code & 0xFF)


def colour_census(
    rgb: np.ndarray,
    allowed: Iterable[Sequence[int]],
    *,
    top: int = 5,
    sample_limit: int = 1_000_000,
) -> ColourCensus:
    """Count the pixels of ``rgb`` whose colour is not in ``allowed``; name the ``top`` most common ones.

    The allowed check is one lookup per pixel in a 16 Mi-entry boolean table; only stray pixels are
    sorted, and at most ``sample_limit`` of them, so a picture full of noise costs bounded time.
    """
    packed = _pack(rgb)
    table = np.zeros(1 << 24, dtype=bool)
    codes = [(int(r) << 16) | (int(g) << 8) | int(b) for r, g, b in allowed]
    if codes:
        table[np.asarray(codes, dtype=np.uint32)] = True
    stray = packed[~table[packed]]
    exact = True
    if stray.size > sample_limit:
        # An evenly spaced sample still finds the dominant stray colours; the counts say "at least".
        step = -(-stray.size // sample_limit)
        sample = stray[::step]
        exact = False
    else:
        sample = stray
    values, counts = np.unique(sample, return_counts=True)
    if not exact:
        counts = counts * (stray.size / sample.size)
    order = np.argsort(-counts, kind="stable")[:top]
    most = tuple((_unpack(int(values[i])), int(round(float(counts[i])))) for i in order)
    return ColourCensus(
        pixels=int(packed.size),
        stray_pixels=int(stray.size),
        stray_distinct=int(values.size),
        most_common=most,
        exact=exact,
    )
