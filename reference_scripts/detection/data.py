"""Data: read images and VOC boxes through aiUtils once, in parallel, decode, resize, cache, batch."""

from __future__ import annotations

import io
import os
import queue
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

# Pillow >= 9.1 names the filters in Image.Resampling; older releases (as on some platform images) do not.
_FILTERS = getattr(Image, "Resampling", Image)
BILINEAR, NEAREST = _FILTERS.BILINEAR, _FILTERS.NEAREST
#: Parallel S3 reads: object stores answer many small requests best when they overlap.
READ_THREADS = 16
#: Image file extensions, compared in lower case.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class Split:
    """One split in memory: images [N,3,H,W] uint8; boxes [N,M,6] (class, x1, y1, x2, y2, difficult).

    Box coordinates are pixels of the resized image; rows with class -1 pad every image to M boxes.
    """

    names: tuple[str, ...]
    images: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return len(self.names)


def key_prefix(s3_path: str) -> str:
    """``s3://bucket/devel/.../`` -> ``devel/.../``, the key form the guide passes to aiUtils."""
    if s3_path.startswith("s3://"):
        return "/".join(s3_path.split("/")[3:])
    return s3_path.lstrip("/")  # already a key


def stem_of(key: str) -> str:
    """``.../images/tile_01.jpg`` -> ``tile_01``."""
    return os.path.splitext(key.rsplit("/", 1)[-1])[0]


def list_files(client: Any, prefix: str) -> list[str]:
    """Keys of the image files directly under ``prefix`` (the folder, ending in ``/``), in listing order.

    getFileList and our own extension test, in any case: the platform's getImages tests substrings
    case-sensitively, so it leaves ``.jpeg`` and ``.JPG`` out and keeps ``x.png.aux.xml``.
    """
    try:
        keys = client.getFileList(prefix)
    except RuntimeError:
        return []  # an empty or missing folder
    return [k for k in keys if "/" not in k[len(prefix):] and k.lower().endswith(IMAGE_SUFFIXES)]


def list_images(client: Any, prefix: str) -> dict[str, str]:
    """Stem -> key of every image under ``prefix``; an empty or missing folder gives an empty mapping."""
    found: dict[str, str] = {}
    for key in list_files(client, prefix):
        found.setdefault(stem_of(key), key)
    return found


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL image (palette, grey, 16-bit, 4-band) -> H x W x 3 uint8; non-8-bit data is stretched."""
    if image.mode in ("RGB", "L", "P", "RGBA", "LA", "CMYK", "YCbCr", "1"):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image).astype(np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    array = array[:, :, :3]
    low, high = float(array.min()), float(array.max())
    array = (array - low) / max(high - low, 1e-6) * 255.0
    if array.shape[2] < 3:
        array = np.repeat(array[:, :, :1], 3, axis=2)
    return array.astype(np.uint8)


def parse_voc(body: bytes, name_to_index: dict[str, int]) -> tuple[list[list[float]], int]:
    """Pascal-VOC XML -> ([class, xmin, ymin, xmax, ymax, difficult] rows, objects of unknown class)."""
    root = ET.fromstring(body)
    rows, unknown = [], 0
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in name_to_index:
            unknown += 1
            continue
        box = obj.find("bndbox")
        if box is None:
            continue
        try:
            coords = [float(box.findtext(tag) or "nan") for tag in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            continue
        difficult = (obj.findtext("difficult") or "0").strip()
        rows.append([float(name_to_index[name]), *coords, 1.0 if difficult in ("1", "true") else 0.0])
    return rows, unknown


def scale_boxes(rows: list[list[float]], source: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Boxes in source pixels -> boxes in resized pixels, clipped, degenerate ones (under 1 px) dropped."""
    table = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
    table = table[np.isfinite(table).all(axis=1)]
    sx, sy = size[0] / source[0], size[1] / source[1]
    table[:, [1, 3]] = np.clip(table[:, [1, 3]] * sx, 0, size[0])
    table[:, [2, 4]] = np.clip(table[:, [2, 4]] * sy, 0, size[1])
    keep = (table[:, 3] - table[:, 1] >= 1) & (table[:, 4] - table[:, 2] >= 1)
    return table[keep]


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on a thread pool: S3 reads and PIL decoding both release the GIL."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(items))) as pool:
        return list(pool.map(fn, items))


def load_split(client: Any, prefix: str, split: str, size: tuple[int, int],
               name_to_index: dict[str, int], log: Callable[[str], None] = print) -> Split:
    """Read ``<prefix><split>/images/`` and ``labels/<stem>.xml`` via aiUtils, resized to ``size`` (W, H)."""
    images = list_images(client, f"{prefix}{split}/images/")
    stems = sorted(images)
    unknown_names = [0]
    missing = [0]

    def fetch(stem: str) -> tuple[np.ndarray, np.ndarray]:
        with Image.open(io.BytesIO(client.getImgXmlArray(images[stem]))) as image:
            rgb = Image.fromarray(to_rgb(image))
        source = rgb.size
        if rgb.size != size:
            rgb = rgb.resize(size, BILINEAR)
        try:
            body = client.getImgXmlArray(f"{prefix}{split}/labels/{stem}.xml")
        except RuntimeError:
            missing[0] += 1  # an image without annotation is a background image: no boxes
            return np.asarray(rgb), np.zeros((0, 6), np.float32)
        rows, unknown = parse_voc(body, name_to_index)
        unknown_names[0] += unknown
        return np.asarray(rgb), scale_boxes(rows, source, size)

    pairs = parallel_map(fetch, stems)
    if missing[0]:
        log(f"{split}: {missing[0]} image(s) have no labels/<stem>.xml and count as images without objects")
    if unknown_names[0]:
        log(f"{split}: {unknown_names[0]} object(s) of a class not in class_name are left out")
    width, height = size
    most = max([len(boxes) for _, boxes in pairs] + [1])
    image_tensor = torch.empty((len(pairs), 3, height, width), dtype=torch.uint8)
    box_tensor = torch.zeros((len(pairs), most, 6), dtype=torch.float32)
    box_tensor[:, :, 0] = -1.0
    for i, (image, boxes) in enumerate(pairs):
        image_tensor[i] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        box_tensor[i, : len(boxes)] = torch.from_numpy(boxes)
    return Split(tuple(stems), image_tensor, box_tensor)


def load_dataset(client: Any, size: tuple[int, int], name_to_index: dict[str, int],
                 log: Callable[[str], None] = print) -> tuple[Split, Split]:
    """The train and valid splits of the client's dataset; without a usable valid split, train is reused."""
    prefix = key_prefix(client.path)
    train = load_split(client, prefix, "train", size, name_to_index, log)
    if len(train) == 0:
        raise RuntimeError(f"no image under {prefix}train/images/")
    valid = load_split(client, prefix, "valid", size, name_to_index, log)
    if len(valid) == 0:
        log("valid: no image; validating on the training split")
        valid = train
    return train, valid


def box_sizes(split: Split) -> np.ndarray:
    """Width and height of every box of a split, [K,2] (for choosing anchors)."""
    table = split.boxes.reshape(-1, 6)
    table = table[table[:, 0] >= 0]
    return (table[:, 3:5] - table[:, 1:3]).numpy()


def epoch_batches(count: int, batch_size: int, shuffle: bool, seed: int, rank: int = 0,
                  world: int = 1) -> list[torch.Tensor]:
    """Index batches of one epoch for one rank; every rank gets the same number of batches (DDP needs it)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    if world > 1:
        # Pad by wrapping so the count divides evenly: ranks with fewer batches would hang the all-reduce.
        per_rank = -(-count // world)
        order = order.repeat(-(-per_rank * world // count))[: per_rank * world]
        order = order[rank::world]
    size = max(1, min(batch_size, len(order)))
    return list(torch.split(order, size))


@dataclass
class LoaderStats:
    """Seconds the training loop spent waiting for batches, for the speed benchmark's data-wait share."""

    wait_s: float = 0.0
    batches: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def prefetch(batches: Sequence[torch.Tensor], gather: Callable[[torch.Tensor], tuple[torch.Tensor, ...]],
             device: torch.device, stats: LoaderStats | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield ``gather(index)`` on ``device``; a thread gathers the next batch while the model runs."""
    pin = device.type == "cuda"
    ready: queue.Queue[Any] = queue.Queue(maxsize=2)

    def produce() -> None:
        try:
            for index in batches:
                tensors = gather(index)
                ready.put(tuple(t.pin_memory() for t in tensors) if pin else tensors)
        except BaseException as exc:  # handed to the consumer, which re-raises it in the training thread
            ready.put(exc)
        ready.put(None)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    while True:
        started = time.perf_counter()
        item = ready.get()
        if isinstance(item, BaseException):
            raise item
        if item is None:
            break
        moved = tuple(t.to(device, non_blocking=True) for t in item)
        if stats is not None:
            stats.wait_s += time.perf_counter() - started
            stats.batches += 1
        yield moved
    worker.join()
