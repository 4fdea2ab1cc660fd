"""Dataset folders on disk in the platform's layout: check them, read them into a ``Dataset``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pie_conformance.datasets._generate import SPLITS, Dataset, DiskFiles, derived_uuid
from pie_conformance.datasets._spec import TASKS, DatasetSpec, LabelClass, default_classes
from pie_conformance.datasets._voc import read_voc
from pie_conformance.errors import UsageError

#: File extensions ``aiUtils.getImages`` counts as images (compared in lower case).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")

#: Task -> (image folders, label extension) inside each of train/ and valid/; "" means the image's own
#: extension, or ``.png`` (the platform's guide finds a label by its image's key, and PNG labels occur too).
LAYOUT: dict[str, tuple[tuple[str, ...], str]] = {
    "segmentation": (("images",), ""),
    "detection": (("images",), ".xml"),
    "change_detection": (("A", "B"), ""),
}

_FORMAT_BY_EXTENSION = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".tif": "tif", ".tiff": "tif"}


class DatasetLayoutError(UsageError):
    """A dataset folder that breaks the platform's layout; ``problems`` lists each one with its path."""

    def __init__(self, root: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{root} is not a dataset in the platform's layout:\n  {shown}{more}")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _classes_of(root: Path, task: str, problems: list[str]) -> tuple[LabelClass, ...] | None:
    """The classes from the folder's traincfg.json (None without one: then values are not checked)."""
    cfg_path = root / "traincfg.json"
    if not cfg_path.exists():
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        return DatasetSpec.from_traincfg(cfg, task).resolved_classes
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        problems.append(f"traincfg.json: expected a valid platform traincfg, got an error: {exc}")
        return None


def _check_label_image(
    rel: str, path: Path, size: tuple[int, int] | None, values: set[int] | None
) -> Iterator[str]:
    try:
        with Image.open(path) as label:
            if label.mode not in ("L", "P"):
                yield f"{rel}: expected an 8-bit single-band label (mode L), got mode {label.mode}"
                return
            if size is not None and label.size != size:
                got = f"{label.size[0]}x{label.size[1]}"
                yield f"{rel}: expected the image's size {size[0]}x{size[1]}, got {got}"
            if values is not None:
                found = set(np.unique(np.asarray(label)).tolist())
                unknown = sorted(found - values)
                if unknown:
                    yield (
                        f"{rel}: expected only class values {sorted(values)}, got also {unknown}"
                        " (a label pixel holds its class's class_value)"
                    )
    except (OSError, UnidentifiedImageError) as exc:
        yield f"{rel}: expected a readable 8-bit label image, got an error: {exc}"


def _check_xml(rel: str, path: Path, size: tuple[int, int] | None, names: set[str] | None) -> Iterator[str]:
    try:
        (width, height), boxes = read_voc(path.read_bytes())
    except (OSError, ValueError) as exc:
        yield f"{rel}: expected a Pascal-VOC annotation, got: {exc}"
        return
    if size is not None and (width, height) != size:
        yield f"{rel}: expected <size> {size[0]}x{size[1]} (the image's), got {width}x{height}"
    for n, box in enumerate(boxes, start=1):
        if not (0 <= box.xmin < box.xmax <= width and 0 <= box.ymin < box.ymax <= height):
            yield (
                f"{rel}: object {n} ({box.name}): expected 0 <= xmin < xmax <= {width} and "
                f"0 <= ymin < ymax <= {height}, got ({box.xmin}, {box.ymin}, {box.xmax}, {box.ymax})"
            )
        if names is not None and box.name not in names:
            yield f"{rel}: object {n}: expected a class among {sorted(names)}, got {box.name!r}"


def _image_size(rel: str, path: Path, problems: list[str]) -> tuple[int, int] | None:
    try:
        with Image.open(path) as image:
            image.load()
            return image.size
    except (OSError, UnidentifiedImageError) as exc:
        problems.append(f"{rel}: expected a readable image, got an error: {exc}")
        return None


def _label_names(image: Path | None, stem: str, label_ext: str) -> tuple[str, ...]:
    """The label file names an image may have, preferred first: ``.xml``, or its extension then ``.png``."""
    if label_ext:
        return (stem + label_ext,)
    own = image.suffix if image is not None else ".png"
    return (stem + own, stem + ".png") if own.lower() != ".png" else (stem + own,)


def _folded(name: str) -> str:
    # Extensions compare in any case (``a.XML`` is the label of ``a.jpg``), stems exactly.
    stem, ext = os.path.splitext(name)
    return stem + ext.lower()


def _match_labels(
    files: list[Path], images: dict[str, Path], label_ext: str
) -> tuple[dict[str, Path], list[Path]]:
    """(stem -> the label file of that image, files in labels/ that are no image's label)."""
    by_name = {_folded(f.name): f for f in files}
    labels: dict[str, Path] = {}
    for stem, image in images.items():
        for name in _label_names(image, stem, label_ext):
            if _folded(name) in by_name:
                labels[stem] = by_name[_folded(name)]
                break
    used = {f.name for f in labels.values()}
    stray = []
    for f in files:
        if f.name in used:
            continue
        # A second label of an image (its .png beside a same-extension one) is allowed: scripts pick one.
        names = _label_names(images[f.stem], f.stem, label_ext) if f.stem in images else ()
        if _folded(f.name) in {_folded(n) for n in names}:
            continue
        stray.append(f)
    return labels, stray


def _stray_reason(f: Path, images: dict[str, Path], label_ext: str, first: str) -> str | None:
    if label_ext == ".xml":
        if f.suffix.lower() != ".xml":
            return f"expected a .xml label, got a {f.suffix or 'bare'} file"
    elif f.suffix.lower() not in IMAGE_EXTENSIONS:
        return f"expected a label image (the image's extension or .png), got a {f.suffix or 'bare'} file"
    image = images.get(f.stem)
    if image is None:
        return f"no image named {f.stem} in {first}/"
    return f"expected {' or '.join(_label_names(image, f.stem, label_ext))} (the image is {image.name})"


def _expected_labels(split: str, stem: str, image: Path | None, label_ext: str) -> str:
    return " or ".join(f"{split}/labels/{name}" for name in _label_names(image, stem, label_ext))


def check_dir(path: str | os.PathLike[str], task: str) -> list[str]:
    """Every way the folder breaks the platform's layout for ``task``, each naming the offending path."""
    if task not in TASKS:
        raise UsageError(f"expected a task among {', '.join(TASKS)}, got {task!r}")
    root = Path(path)
    if not root.is_dir():
        return [f"{root}: expected a dataset folder, got {'a file' if root.exists() else 'nothing'}"]
    problems: list[str] = []
    classes = _classes_of(root, task, problems)
    values = {c.value for c in classes} if classes is not None else None
    names = {c.name for c in classes} if classes is not None else None
    image_folders, label_ext = LAYOUT[task]
    for split in SPLITS:
        wanted = ", ".join(f"{split}/{f}/" for f in (*image_folders, "labels"))
        if not (root / split).is_dir():
            problems.append(f"{split}/: missing (expected {wanted})")
            continue
        stems: dict[str, dict[str, Path]] = {}
        for folder in image_folders:
            if not (root / split / folder).is_dir():
                problems.append(f"{split}/{folder}/: missing (expected {wanted})")
                continue
            found: dict[str, Path] = {}
            for file in _files(root / split / folder):
                if file.suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                if file.stem in found:
                    problems.append(
                        f"{split}/{folder}/{file.name}: two images named {file.stem} "
                        f"({found[file.stem].name} and {file.name})"
                    )
                found[file.stem] = file
            if not found:
                problems.append(
                    f"{split}/{folder}/: no images (expected files ending in {', '.join(IMAGE_EXTENSIONS)})"
                )
            stems[folder] = found
        if not (root / split / "labels").is_dir():
            problems.append(f"{split}/labels/: missing (expected {wanted})")
            continue
        label_files = [f for f in _files(root / split / "labels") if not f.name.startswith(".")]
        first = image_folders[0]
        images = stems.get(first, {})
        labels, stray = _match_labels(label_files, images, label_ext)
        for f in stray:
            reason = _stray_reason(f, images, label_ext, f"{split}/{first}")
            if reason is not None and (first in stems or not reason.startswith("no image")):
                problems.append(f"{split}/labels/{f.name}: {reason}")
        for folder, found in stems.items():
            for stem, file in found.items():
                if stem not in labels:
                    expected = _expected_labels(split, stem, images.get(stem), label_ext)
                    problems.append(f"{split}/{folder}/{file.name}: no label (expected {expected})")
                for other in image_folders:
                    if other != folder and other in stems and stem not in stems[other]:
                        problems.append(f"{split}/{folder}/{file.name}: no partner image in {split}/{other}/")
        for stem, file in labels.items():
            image = stems.get(first, {}).get(stem)
            size = _image_size(f"{split}/{first}/{image.name}", image, problems) if image else None
            rel = f"{split}/labels/{file.name}"
            if label_ext == ".xml":
                problems.extend(_check_xml(rel, file, size, names))
            else:
                problems.extend(_check_label_image(rel, file, size, values))
        for folder in image_folders[1:]:
            for stem, file in stems.get(folder, {}).items():
                size = _image_size(f"{split}/{folder}/{file.name}", file, problems)
                partner = stems.get(first, {}).get(stem)
                if partner is not None and size is not None:
                    with Image.open(partner) as im:
                        if im.size != size:
                            problems.append(
                                f"{split}/{folder}/{file.name}: expected the size of "
                                f"{split}/{first}/{partner.name} {im.size[0]}x{im.size[1]}, "
                                f"got {size[0]}x{size[1]}"
                            )
    return problems


def load_dir(path: str | os.PathLike[str], task: str, *, lazy: bool = False) -> Dataset:
    """Read a dataset folder; a folder that breaks the layout raises DatasetLayoutError.

    With ``lazy`` the files stay on disk and are read when asked for (``Dataset.files`` is then a
    ``DiskFiles``): uploading such a dataset never holds all of it in memory.
    """
    root = Path(path)
    problems = check_dir(root, task)
    if problems:
        raise DatasetLayoutError(str(root), problems)
    image_folders, _ = LAYOUT[task]
    keys = [
        f"{split}/{folder}/{file.name}"
        for split in SPLITS
        for folder in (*image_folders, "labels")
        for file in _files(root / split / folder)
    ]
    files: Mapping[str, bytes] = DiskFiles(root, keys) if lazy else {k: (root / k).read_bytes() for k in keys}
    counts = {
        s: sum(
            1
            for k in files
            if k.startswith(f"{s}/{image_folders[0]}/") and Path(k).suffix.lower() in IMAGE_EXTENSIONS
        )
        for s in SPLITS
    }
    first_image = next(k for k in files if k.startswith(f"train/{image_folders[0]}/"))
    with Image.open(root / first_image) as im:
        size = im.size
    args: dict[str, Any] = {
        "train_images": counts["train"],
        "valid_images": counts["valid"],
        "image_format": _FORMAT_BY_EXTENSION.get(Path(first_image).suffix.lower(), "png"),
    }
    cfg: dict[str, Any] | None = None
    try:
        if (root / "traincfg.json").exists():
            cfg = json.loads((root / "traincfg.json").read_text(encoding="utf-8"))
            spec = DatasetSpec.from_traincfg(cfg, task, **args)
        else:
            spec = DatasetSpec(task, size=size, classes=default_classes(task), **args)
    except ValueError as exc:
        raise DatasetLayoutError(str(root), [f"traincfg.json: {exc}"]) from None
    dataset_id = spec.dataset_id or derived_uuid("pie-dir", root.resolve())
    return Dataset(spec, dataset_id, files, base_cfg=cfg)
