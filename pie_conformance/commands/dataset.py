"""``pie-check dataset``: write a synthetic dataset folder, or check a folder against the layout."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pie_conformance.datasets import DatasetSpec

HELP = "write a synthetic dataset (train/, valid/, traincfg.json) or check a dataset folder's layout"


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe a synthetic dataset (shared with ``pie-check serve``)."""
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
        "--format", dest="image_format", default="png", choices=("png", "jpg", "tif"), help="image format"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same dataset")
    parser.add_argument("--owner", default="kit", help="the owner part of the key prefix (default kit)")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check dataset``."""
    add_dataset_options(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--out", metavar="DIR", help="write the dataset and its traincfg.json into DIR")
    action.add_argument(
        "--check", metavar="DIR", help="check that DIR holds a dataset in the platform's layout"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a DIR that already holds train/ or valid/"
    )


def spec_from_args(args: argparse.Namespace) -> DatasetSpec:
    """The DatasetSpec the options describe; bad values raise UsageError."""
    from pie_conformance.datasets import DatasetSpec
    from pie_conformance.datasets._spec import parse_size
    from pie_conformance.errors import UsageError

    try:
        size = parse_size(args.size)
        valid = args.valid_images if args.valid_images is not None else max(1, args.images // 2)
        return DatasetSpec(
            task=args.task,
            train_images=args.images,
            valid_images=valid,
            size=size,
            image_format=args.image_format,
            seed=args.seed,
            owner=args.owner,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def execute(args: argparse.Namespace) -> int:
    """Write or check a dataset folder; 0 when written or valid, 1 when the check finds problems."""
    from pathlib import Path

    from pie_conformance.datasets import check_dir, generate
    from pie_conformance.errors import UsageError

    if args.check:
        problems = check_dir(args.check, args.task)
        if not problems:
            sys.stdout.write(f"{args.check}: a valid {args.task} dataset\n")
            return 0
        sys.stdout.write(f"{args.check}: {len(problems)} problem(s) with this {args.task} dataset:\n")
        for problem in problems:
            sys.stdout.write(f"  {problem}\n")
        return 1
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
    sys.stdout.write(
        f"wrote {spec.task} dataset {dataset.dataset_id} to {out}: {spec.train_images} train and "
        f"{spec.valid_images} valid images ({width}x{height} {spec.image_format}), classes "
        f"{', '.join(f'{c.name}={c.value}' for c in dataset.classes)}, and traincfg.json\n"
    )
    return 0
