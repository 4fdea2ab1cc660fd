"""Data: read the change-detection pairs through aiUtils once, in parallel, decode, resize, cache, batch."""

from __future__ import annotations

import io
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

#: Label index for pixels whose value is no class_value: left out of the loss and the metrics.
IGNORE_INDEX = 255
# Pillow >= 9.1 names the filters in Image.Resampling; older releases (as on some platform images) do not.
_FILTERS = getattr(Image, "Resampling", Image)
BILINEAR, NEAREST = _FILTERS.BILINEAR, _FILTERS.NEAREST
#: Parallel S3 reads: object stores answer many small requests best when they overlap.
READ_THREADS = 16
#: Image file extensions, compared in lower case.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class Split:
    """One split decoded into memory: before/after images [N,3,H,W] uint8, labels [N,H,W] uint8 indices."""

    names: tuple[str, ...]
    images_a: torch.Tensor
    images_b: torch.Tensor
    labels: torch.Tensor

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


def label_key(image_key: str, labels: dict[str, str]) -> str | None:
    """The label of an image among ``labels`` (file name -> key): the same name, as the guide finds it by
    replacing ``images`` with ``labels`` in the key, else ``<stem>.png``; None without one."""
    name = image_key.rsplit("/", 1)[-1]
    return labels.get(name) or labels.get(os.path.splitext(name)[0] + ".png")


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


def decode_image(body: bytes, size: tuple[int, int]) -> np.ndarray:
    """Image bytes -> H x W x 3 uint8 at ``size`` (W, H), bilinear."""
    with Image.open(io.BytesIO(body)) as image:
        rgb = Image.fromarray(to_rgb(image))
    if rgb.size != size:
        rgb = rgb.resize(size, BILINEAR)
    return np.asarray(rgb)


def decode_label(body: bytes, size: tuple[int, int], lookup: np.ndarray) -> np.ndarray:
    """Label image bytes (PNG, TIFF) -> H x W uint8 class indices at ``size``, nearest-neighbour."""
    with Image.open(io.BytesIO(body)) as image:
        array = np.asarray(image)
    if array.ndim == 3:
        array = array[:, :, 0]  # a label saved as RGB/RGBA repeats the value in every band
    values = Image.fromarray(array.astype(np.uint8))
    if values.size != size:
        values = values.resize(size, NEAREST)
    return lookup[np.asarray(values)]


def value_lookup(value_to_index: dict[int, int]) -> np.ndarray:
    """A 256-entry table: label pixel value -> class index (IGNORE_INDEX for values of no class)."""
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for value, index in value_to_index.items():
        if 0 <= value <= 255:
            table[value] = index
    return table


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on a thread pool: S3 reads and PIL decoding both release the GIL."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(items))) as pool:
        return list(pool.map(fn, items))


def load_split(client: Any, prefix: str, split: str, size: tuple[int, int],
               value_to_index: dict[int, int], log: Callable[[str], None] = print) -> Split:
    """Read ``<prefix><split>/A/``, ``B/`` and ``labels/`` through aiUtils, resized to ``size`` (W, H)."""
    before = list_images(client, f"{prefix}{split}/A/")
    after = list_images(client, f"{prefix}{split}/B/")
    names = {k.rsplit("/", 1)[-1]: k for k in list_files(client, f"{prefix}{split}/labels/")}
    labels = {stem: label_key(key, names) for stem, key in before.items()}
    # A and B matched by stem, the label by the A image's name (or <stem>.png).
    stems = sorted(s for s in before if s in after and labels[s])
    if len(stems) < len(before):
        log(f"{split}: {len(before) - len(stems)} pair(s) without a B image or a label are left out")
    lookup = value_lookup(value_to_index)

    def fetch(stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        image_a = decode_image(client.getImgXmlArray(before[stem]), size)
        image_b = decode_image(client.getImgXmlArray(after[stem]), size)
        label = decode_label(client.getImgXmlArray(str(labels[stem])), size, lookup)
        return image_a, image_b, label

    triples = parallel_map(fetch, stems)
    width, height = size
    tensor_a = torch.empty((len(triples), 3, height, width), dtype=torch.uint8)
    tensor_b = torch.empty((len(triples), 3, height, width), dtype=torch.uint8)
    label_tensor = torch.empty((len(triples), height, width), dtype=torch.uint8)
    for i, (image_a, image_b, label) in enumerate(triples):
        tensor_a[i] = torch.from_numpy(np.ascontiguousarray(image_a.transpose(2, 0, 1)))
        tensor_b[i] = torch.from_numpy(np.ascontiguousarray(image_b.transpose(2, 0, 1)))
        label_tensor[i] = torch.from_numpy(label)
    return Split(tuple(stems), tensor_a, tensor_b, label_tensor)


def load_dataset(client: Any, size: tuple[int, int], value_to_index: dict[int, int],
                 log: Callable[[str], None] = print) -> tuple[Split, Split]:
    """The train and valid splits of the client's dataset; without a usable valid split, train is reused."""
    prefix = key_prefix(client.path)
    train = load_split(client, prefix, "train", size, value_to_index, log)
    if len(train) == 0:
        raise RuntimeError(f"no A/B pair with a label under {prefix}train/A/, train/B/ and train/labels/")
    valid = load_split(client, prefix, "valid", size, value_to_index, log)
    if len(valid) == 0:
        log("valid: no A/B pair with a label; validating on the training split")
        valid = train
    return train, valid


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
