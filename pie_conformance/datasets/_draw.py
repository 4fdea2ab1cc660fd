"""Remote-sensing-like scenes drawn with numpy: textured ground, buildings, roads, water, airplanes, tanks.

Every painter works on whole arrays (no per-pixel Python loops) and returns boolean masks, so labels and
boxes are computed from exactly the pixels that were drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Shape drawn for a class, chosen by its name; names the kit does not know cycle through _FALLBACK_SHAPES.
SHAPE_BY_NAME: dict[str, str] = {
    "building": "rectangle",
    "house": "rectangle",
    "road": "line",
    "water": "blob",
    "river": "blob",
    "lake": "blob",
    "airplane": "cross",
    "plane": "cross",
    "aircraft": "cross",
    "storage_tank": "disc",
    "oiltank": "disc",
    "tank": "disc",
    "change": "rectangle",
}
_FALLBACK_SHAPES = ("rectangle", "disc", "cross", "blob", "line")
#: Painting order: area-like shapes first so that small objects stay visible on top of them.
SHAPE_ORDER = {"blob": 0, "line": 1, "rectangle": 2, "disc": 3, "cross": 4}

#: The look of each shape on the ground (RGB), with the spread a single object may take.
_APPEARANCE: dict[str, tuple[tuple[int, int, int], int]] = {
    "rectangle": ((185, 95, 80), 45),
    "line": ((112, 110, 108), 10),
    "blob": ((32, 62, 98), 10),
    "cross": ((228, 228, 232), 8),
    "disc": ((238, 236, 222), 10),
}


def shape_for(name: str, index: int) -> str:
    """The shape the generator draws for class ``name`` (``index`` picks one for unknown names)."""
    return SHAPE_BY_NAME.get(name.lower(), _FALLBACK_SHAPES[index % len(_FALLBACK_SHAPES)])


def _upsample(small: np.ndarray, width: int, height: int) -> np.ndarray:
    # Pillow's bilinear resize of a float image is far faster than interpolating in numpy.
    image = Image.fromarray(small.astype(np.float32))
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR))


def ground(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Textured ground (fields, soil, vegetation) as float32 RGB in 0..255."""
    mix = np.zeros((height, width), np.float32)
    for cells, amp in ((3, 0.6), (7, 0.3), (17, 0.1)):
        mix += amp * _upsample(rng.random((cells, cells), dtype=np.float32), width, height)
    detail = rng.standard_normal((height, width), dtype=np.float32)
    vegetation = np.array([72, 98, 58], np.float32)
    soil = np.array([146, 126, 94], np.float32)
    rgb = vegetation + (soil - vegetation) * mix[..., None]
    rgb += 9.0 * detail[..., None] + 4.0 * rng.standard_normal((height, width, 3), dtype=np.float32)
    return rgb


@dataclass(frozen=True)
class Drawn:
    """One painted object: its class index, its shape and the mask of the pixels it covers."""

    class_index: int
    shape: str
    mask: np.ndarray  # bool (H, W)
    colour: tuple[float, float, float]

    def box(self) -> tuple[int, int, int, int]:
        """(xmin, ymin, xmax, ymax) in pixel-edge coordinates: the box encloses exactly the mask."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _colour(rng: np.random.Generator, shape: str) -> tuple[float, float, float]:
    base, spread = _APPEARANCE[shape]
    if shape == "rectangle":
        # Roofs vary a lot: red tiles, grey concrete, pale metal.
        base = ((185, 95, 80), (165, 165, 170), (205, 200, 185))[int(rng.integers(3))]
    jitter = rng.uniform(-spread, spread, 3) * 0.5
    return (base[0] + jitter[0], base[1] + jitter[1], base[2] + jitter[2])


def _rect_mask(h: int, w: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True
    return mask


def painter(
    shape: str,
    rng: np.random.Generator,
    width: int,
    height: int,
    box: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """The mask of one object of ``shape``; kept inside ``box`` (x0, y0, x1, y1) when one is given."""
    if box is not None:
        # Detection objects must not reach into a neighbour's box: a road becomes a stretch of road.
        x0, y0, x1, y1 = box
        inside = np.zeros((height, width), bool)
        inside[y0:y1, x0:x1] = True
        if shape == "line":
            cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
            return _line(rng, width, height, cx, cy, max(1.5, min(x1 - x0, y1 - y0) / 6.0)) & inside
        return _shape(shape, rng, width, height, box) & inside
    return _shape(shape, rng, width, height, None)


def _line(rng: np.random.Generator, width: int, height: int, px: float, py: float, half: float) -> np.ndarray:
    yy, xx = np.ogrid[0:height, 0:width]
    angle = rng.uniform(0, np.pi)
    dx, dy = np.cos(angle), np.sin(angle)
    return np.abs((xx + 0.5 - px) * dy - (yy + 0.5 - py) * dx) <= half


def _shape(
    shape: str, rng: np.random.Generator, width: int, height: int, box: tuple[int, int, int, int] | None
) -> np.ndarray:
    short = min(width, height)
    if box is None:
        side = int(rng.integers(max(4, short // 8), max(6, short // 3)))
        x0 = int(rng.integers(0, max(1, width - side)))
        y0 = int(rng.integers(0, max(1, height - side)))
        box = (x0, y0, x0 + side, y0 + side)
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    if shape == "rectangle":
        # Buildings are rarely square: shrink one side at random.
        if rng.random() < 0.5:
            bw = max(3, int(bw * rng.uniform(0.5, 1.0)))
        else:
            bh = max(3, int(bh * rng.uniform(0.5, 1.0)))
        return _rect_mask(height, width, x0, y0, x0 + bw, y0 + bh)
    yy, xx = np.ogrid[0:height, 0:width]
    if shape == "disc":
        r = min(bw, bh) / 2.0
        cx, cy = x0 + r, y0 + r
        return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r
    if shape == "cross":
        return _airplane(height, width, x0, y0, min(bw, bh), int(rng.integers(4)))
    if shape == "blob":
        mask = np.zeros((height, width), bool)
        cx, cy = x0 + bw / 2.0, y0 + bh / 2.0
        for _ in range(3):
            ex, ey = cx + rng.uniform(-0.2, 0.2) * bw, cy + rng.uniform(-0.2, 0.2) * bh
            ax, ay = rng.uniform(0.2, 0.5) * bw, rng.uniform(0.2, 0.5) * bh
            mask |= ((xx - ex) / ax) ** 2 + ((yy - ey) / ay) ** 2 <= 1.0
        return mask
    if shape == "line":
        # A road crossing the whole image: the pixels near a line through a random point.
        px, py = rng.uniform(0, width), rng.uniform(0, height)
        return _line(rng, width, height, px, py, max(1.5, short * rng.uniform(0.025, 0.05)))
    raise ValueError(f"expected a shape among {sorted(SHAPE_ORDER)}, got {shape!r}")


def _airplane(h: int, w: int, x0: int, y0: int, size: int, heading: int) -> np.ndarray:
    """A plane seen from above: fuselage, wings and tail, in one of four headings."""
    size = max(size, 8)
    local = np.zeros((size, size), bool)
    body = max(2, size // 6)
    mid = size // 2
    local[:, mid - body // 2 : mid - body // 2 + body] = True  # fuselage, nose at row 0
    wing_row = int(size * 0.35)
    local[wing_row : wing_row + body, :] = True  # wings span the whole width
    tail = max(2, size // 5)
    local[size - body : size, mid - tail : mid + tail + 1] = True  # tailplane
    local = np.rot90(local, heading)
    mask = np.zeros((h, w), bool)
    ys, xs = slice(y0, min(y0 + size, h)), slice(x0, min(x0 + size, w))
    mask[ys, xs] = local[: ys.stop - ys.start, : xs.stop - xs.start]
    return mask


def paint(rgb: np.ndarray, obj: Drawn, rng: np.random.Generator) -> None:
    """Paint an object's colour, with a little texture, into ``rgb`` in place."""
    count = int(obj.mask.sum())
    if count:
        texture = 5.0 * rng.standard_normal((count, 3), dtype=np.float32)
        rgb[obj.mask] = np.asarray(obj.colour, np.float32) + texture


def make(
    shape: str,
    class_index: int,
    rng: np.random.Generator,
    width: int,
    height: int,
    box: tuple[int, int, int, int] | None = None,
) -> Drawn:
    """A new object of ``shape`` for class ``class_index``, with its colour."""
    return Drawn(class_index, shape, painter(shape, rng, width, height, box), _colour(rng, shape))


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Clip and round a float image to 8-bit."""
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
