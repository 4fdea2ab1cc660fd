"""``pie-check dataset``: write a synthetic dataset folder, or check a folder against the layout."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pie_conformance.datasets import DatasetSpec

HELP = "write a synthetic dataset (train/, valid/, traincfg.json) or check a dataset folder's layout"

IMAGE_FORMATS = ("png", "jpg", "tif")
OUTPUT_FORMATS = ("text", "json")


def add_dataset_options(parser: argparse.ArgumentParser, *, legacy_format: bool = True) -> None:
    """The options that describe a synthetic dataset (shared with ``pie-check serve``).

    ``legacy_format`` keeps ``--format png|jpg|tif``, the old spelling of ``--image-format``, as a hidden,
    deprecated option (``pie-check dataset`` uses ``--format`` for its output and accepts both itself).
    """
    from pie_conformance.tasks import TASKS

    parser.add_argument("--task", required=True, choices=TASKS, help="the dataset layout")
    parser.add_argument("--images", type=int, default=8, metavar="N", help="training images (default 8)")
    parser.add_argument(
        "--valid-images",
        type=int,
        default=None,
        metavar="N",
        help="validation images (default: half of --images)",
    )
    parser.add_argument("--size", default="64x64", metavar="WxH", help="image size (default 64x64)")
    parser.add_argument(
        "--image-format",
        default=None,
        choices=IMAGE_FORMATS,
        help="image format (default: jpg for detection, png otherwise); segmentation and change-detection "
        "labels take the images' extension",
    )
    if legacy_format:
        parser.add_argument("--format", choices=IMAGE_FORMATS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same dataset")
    parser.add_argument("--owner", default="kit", help="the owner part of the key prefix (default kit)")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check dataset``."""
    add_dataset_options(parser, legacy_format=False)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--out", metavar="DIR", help="write the dataset and its traincfg.json into DIR")
    action.add_argument(
        "--check", metavar="DIR", help="check that DIR holds a dataset in the platform's layout"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a DIR that already holds train/ or valid/"
    )
    parser.add_argument(
        "--format",
        choices=OUTPUT_FORMATS + IMAGE_FORMATS,
        default="text",
        metavar="{text,json}",
        help="output format (default: text); png, jpg and tif are the deprecated spelling of --image-format",
    )


def image_format_from_args(args: argparse.Namespace) -> str:
    """The image format asked for ("": the task's default), with the deprecated ``--format png|jpg|tif``."""
    from pie_conformance.errors import UsageError

    chosen: str = args.image_format or ""
    legacy = getattr(args, "format", None)
    if legacy in IMAGE_FORMATS:
        if chosen and chosen != legacy:
            raise UsageError(
                f"--format {legacy} and --image-format {chosen} disagree; give --image-format only"
            )
        sys.stderr.write(
            f"pie-check: --format {legacy} is deprecated for the image format; write --image-format {legacy} "
            "(--format now chooses the output: text or json)\n"
        )
        chosen = legacy
    return chosen


def spec_from_args(args: argparse.Namespace) -> DatasetSpec:
    """The DatasetSpec the options describe; bad values raise UsageError."""
    from pie_conformance.datasets import DatasetSpec
    from pie_conformance.datasets._spec import parse_size
    from pie_conformance.errors import UsageError

    image_format = image_format_from_args(args)
    try:
        size = parse_size(args.size)
        valid = args.valid_images if args.valid_images is not None else max(1, args.images // 2)
        return DatasetSpec(
            task=args.task,
            train_images=args.images,
            valid_images=valid,
            size=size,
            image_format=image_format,
            seed=args.seed,
            owner=args.owner,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _emit(args: argparse.Namespace, text: str, document: dict[str, Any]) -> None:
    import json

    if args.format == "json":
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(text)


def _check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pie_conformance.datasets import check_dir
    from pie_conformance.errors import UsageError

    folder = Path(args.check)
    if not folder.is_dir():
        # Like the validators with a missing file: the input is not there, so there is nothing to judge.
        got = "a file" if folder.exists() else "nothing"
        raise UsageError(f"--check {args.check}: expected a dataset folder, got {got}")
    problems = check_dir(folder, args.task)
    if problems:
        text = f"{args.check}: {len(problems)} problem(s) with this {args.task} dataset:\n"
        text += "".join(f"  {problem}\n" for problem in problems)
    else:
        text = f"{args.check}: a valid {args.task} dataset\n"
    _emit(args, text, {"path": args.check, "task": args.task, "valid": not problems, "problems": problems})
    return 1 if problems else 0


def execute(args: argparse.Namespace) -> int:
    """Write or check a dataset folder; 0 when written or valid, 1 when the check finds problems."""
    from pathlib import Path

    from pie_conformance.datasets import generate
    from pie_conformance.errors import UsageError

    if args.format in IMAGE_FORMATS:
        args.image_format = image_format_from_args(args)  # says it is deprecated, once
        args.format = "text"
    if args.check:
        return _check(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: expected a folder, got a file")
    if not args.force and any((out / part).exists() for part in ("train", "valid")):
        raise UsageError(
            f"--out {out} already holds a dataset (train/ or valid/); add --force to write over it"
        )
    dataset = generate(spec_from_args(args))
    try:
        dataset.write_to_dir(out)
    except OSError as exc:
        raise UsageError(f"cannot write the dataset to {out}: {exc.strerror or exc}") from None
    spec = dataset.spec
    width, height = spec.size
    text = (
        f"wrote {spec.task} dataset {dataset.dataset_id} to {out}: {spec.train_images} train and "
        f"{spec.valid_images} valid images ({width}x{height} {spec.image_format}, "
        f"labels {spec.label_extension}), "
        f"classes {', '.join(f'{c.name}={c.value}' for c in dataset.classes)}, and traincfg.json\n"
    )
    _emit(args, text, {
        "path": str(out), "task": spec.task, "dataset_id": dataset.dataset_id, "kind": spec.kind,
        "train_images": spec.train_images, "valid_images": spec.valid_images, "size": [width, height],
        "image_format": spec.image_format, "label_extension": spec.label_extension,
        "classes": [c.to_label() for c in dataset.classes],
    })
    return 0
