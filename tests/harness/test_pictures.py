"""Safe PNG inspection: valid pictures, misnamed formats, truncation, decompression bombs, colour censuses."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pie_conformance.harness.pictures import (
    PNG_SIGNATURE,
    PictureError,
    colour_census,
    inspect_picture,
    read_rgb,
    sniff_format,
)


def _png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _bomb(width: int, height: int, rows: int = 64) -> bytes:
    """A tiny PNG that declares ``width`` x ``height`` grey pixels: a few rows of zeros, compressed hard."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(comp.compress(row) for _ in range(rows)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


@pytest.fixture
def rgb() -> np.ndarray:
    a = np.zeros((32, 48, 3), dtype=np.uint8)
    a[4:12, 4:20] = (255, 0, 0)
    return a


def test_valid_png_gives_its_size_and_mode(tmp_path: Path, rgb: np.ndarray) -> None:
    p = tmp_path / "pred.png"
    p.write_bytes(_png(rgb))
    info = inspect_picture(p)
    assert info.ok and info.problem is None
    assert info.size == (48, 32)
    assert info.mode == "RGB"


def test_grey_and_palette_pngs_are_valid(tmp_path: Path) -> None:
    grey = tmp_path / "label.png"
    Image.fromarray(np.full((8, 8), 3, dtype=np.uint8), mode="L").save(grey)
    pal = tmp_path / "pred.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).convert("P").save(pal)
    assert inspect_picture(grey).ok
    assert inspect_picture(pal).ok
    assert read_rgb(grey)[0, 0].tolist() == [3, 3, 3]


def test_jpeg_named_png_is_refused_and_named(tmp_path: Path, rgb: np.ndarray) -> None:
    p = tmp_path / "pred.png"
    p.write_bytes(_png(rgb, "JPEG"))
    info = inspect_picture(p)
    assert not info.ok
    assert "JPEG" in (info.problem or "")
    assert "format='PNG'" in (info.hint or "")


@pytest.mark.parametrize(
    ("head", "name"),
    [(b"\xff\xd8\xff\xe0", "JPEG"), (b"GIF89a", "GIF"), (b"BM\x00", "BMP"), (b"RIFF\0\0\0\0WEBPVP8 ", "WebP"),
     (b"\x93NUMPY", "a NumPy .npy array"), (PNG_SIGNATURE, "PNG"), (b"hello", None)],
)
def test_sniff_format(head: bytes, name: str | None) -> None:
    assert sniff_format(head) == name


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    noisy = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = _png(noisy)
    p = tmp_path / "pred.png"
    p.write_bytes(data[: len(data) // 2])
    info = inspect_picture(p)
    assert not info.ok
    assert "truncated" in (info.problem or "") or "decodable" in (info.problem or "")


def test_png_cut_inside_header_is_refused(tmp_path: Path, rgb: np.ndarray) -> None:
    p = tmp_path / "pred.png"
    p.write_bytes(_png(rgb)[:20])
    info = inspect_picture(p)
    assert not info.ok and "header" in (info.problem or "")


def test_corrupt_header_checksum_is_refused(tmp_path: Path, rgb: np.ndarray) -> None:
    data = bytearray(_png(rgb))
    data[30] ^= 0xFF  # inside the IHDR CRC
    p = tmp_path / "pred.png"
    p.write_bytes(bytes(data))
    info = inspect_picture(p)
    assert not info.ok and "checksum" in (info.problem or "")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "pred.png"
    p.write_bytes(b"")
    info = inspect_picture(p)
    assert not info.ok and "empty" in (info.problem or "")


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    p = tmp_path / "pred.png"
    p.write_bytes(_bomb(60_000, 60_000))
    assert p.stat().st_size < 50_000  # a small file...
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ...and no warning may escape either
        info = inspect_picture(p)
    assert not info.ok
    assert "3,600,000,000 pixels" in (info.problem or "")
    assert "bomb" in (info.problem or "")
    with pytest.raises(PictureError):
        read_rgb(p)


def test_pillow_bomb_guard_is_caught_when_our_limit_is_lifted(tmp_path: Path) -> None:
    p = tmp_path / "pred.png"
    p.write_bytes(_bomb(60_000, 60_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = inspect_picture(p, max_pixels=10**12)
    assert not info.ok and "bomb" in (info.problem or "")


def test_byte_and_pixel_limits(tmp_path: Path, rgb: np.ndarray) -> None:
    p = tmp_path / "pred.png"
    p.write_bytes(_png(rgb))
    assert "over the limit" in (inspect_picture(p, max_bytes=10).problem or "")
    assert "over the limit" in (inspect_picture(p, max_pixels=100).problem or "")


def test_symlink_is_not_followed(tmp_path: Path, rgb: np.ndarray) -> None:
    target = tmp_path / "real.png"
    target.write_bytes(_png(rgb))
    link = tmp_path / "pred.png"
    link.symlink_to(target)
    info = inspect_picture(link)
    assert not info.ok and "symbolic link" in (info.problem or "")


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    info = inspect_picture(tmp_path / "nope.png")
    assert not info.ok and "cannot be read" in (info.problem or "")


def test_census_of_a_clean_picture(rgb: np.ndarray) -> None:
    c = colour_census(rgb, [(0, 0, 0), (255, 0, 0)])
    assert c.clean and c.pixels == 32 * 48 and c.most_common == ()


def test_census_names_stray_colours_most_common_first(rgb: np.ndarray) -> None:
    rgb[0, 0:3] = (254, 1, 1)
    rgb[1, 0] = (128, 0, 0)
    c = colour_census(rgb, [(0, 0, 0), (255, 0, 0)])
    assert c.stray_pixels == 4
    assert c.stray_distinct == 2
    assert c.most_common == (((254, 1, 1), 3), ((128, 0, 0), 1))
    assert c.exact


def test_census_of_noise_is_bounded_and_says_so() -> None:
    noise = np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    c = colour_census(noise, [(0, 0, 0)], sample_limit=1000)
    assert c.stray_pixels == 90_000 - int(np.all(noise == 0, axis=2).sum())
    assert not c.exact
    assert len(c.most_common) == 5


def test_rgba_alpha_is_dropped(tmp_path: Path) -> None:
    a = np.zeros((4, 4, 4), dtype=np.uint8)
    a[..., 0] = 255
    a[..., 3] = 10
    p = tmp_path / "pred.png"
    Image.fromarray(a, mode="RGBA").save(p)
    assert read_rgb(p)[0, 0].tolist() == [255, 0, 0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), keep_header=st.booleans())
def test_arbitrary_bytes_never_raise(tmp_path: Path, data: bytes, keep_header: bool) -> None:
    # Half the inputs start like a real PNG, so the fuzzing reaches the chunk and pixel decoding.
    head = _png(np.zeros((4, 4, 3), dtype=np.uint8))[:33] if keep_header else b""
    p = tmp_path / "pred.png"
    p.write_bytes(head + data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = inspect_picture(p)
    assert info.ok or (info.problem and info.hint)
