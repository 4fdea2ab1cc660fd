"""``pie-check run``: run a train.py as the platform does and check the contract as it runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pie_conformance.commands import add_report_options, emit_report
from pie_conformance.errors import UsageError
from pie_conformance.tasks import TASKS

if TYPE_CHECKING:
    from pie_conformance.harness.options import CheckOptions

HELP = "run a train.py (or its folder) as the platform does and check every PRG, OUT, LOG, RUN and RES rule"

_SCENARIOS = ("baseline", "resume", "resume-partial")


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 64x64, got {text!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"expected 16 to 8192 pixels a side, got {text!r}")
    return w, h


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {v}")
    return v


def _natural(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {v}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check run``."""
    parser.add_argument("path", metavar="PATH", help="the train.py to check, or the folder that holds it")
    parser.add_argument("--task", required=True, choices=TASKS, help="the kind of training the script does")
    parser.add_argument("--epochs", type=_positive_int, default=2, help="traincfg epochs (default: 2)")
    parser.add_argument("--images", type=_positive_int, default=None,
                        help="training images in the synthetic dataset (default: 4; validation gets half)")
    parser.add_argument("--size", type=_size, default=None, metavar="WxH",
                        help="image size of the dataset and load_size (default: 64x64)")
    parser.add_argument("--gpu-num", type=_natural, default=0,
                        help="traincfg gpu_num (default: 0, no GPU visible)")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="time limit of each script run (default: 600)")
    parser.add_argument("--scenario", action="append", choices=_SCENARIOS, dest="scenarios", metavar="NAME",
                        help="run only this scenario (repeatable): baseline, resume, resume-partial "
                        "(default: all)")
    parser.add_argument("--check-buffering", action="store_true",
                        help="one more run without PYTHONUNBUFFERED, to tell whether progress lines "
                        "are flushed (PRG006)")
    parser.add_argument("--python", metavar="EXE", default=None,
                        help="interpreter to run the script with (default: the one running pie-check)")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="keep the run folders and per-epoch snapshots in DIR (new or empty)")
    parser.add_argument("--html", metavar="FILE", default=None,
                        help="also write the HTML report (pictures per epoch, metric charts) to FILE")
    box = parser.add_argument_group("sandbox (see docs/sandbox.md)")
    box.add_argument("--sandbox", choices=("auto", "strict", "none"), default="auto",
                     help="isolation of the script: strict = OS level (bubblewrap) or exit 2; auto = "
                     "the OS level where bubblewrap works here, else a guard inside the script's interpreter "
                     "(not a security boundary); none = no isolation, no limits (default: auto)")
    box.add_argument("--memory-limit", type=_positive_int, default=None, metavar="MIB",
                     help="most private memory each process of the script may map, in MiB (RLIMIT_DATA; "
                     "default: half the machine's memory, at least 16384)")
    box.add_argument("--file-size-limit", type=_positive_int, default=None, metavar="MIB",
                     help="largest file the script may write, in MiB (RLIMIT_FSIZE; default: 4096)")
    box.add_argument("--max-processes", type=_positive_int, default=None, metavar="N",
                     help="most processes and threads at once (RLIMIT_NPROC inside bubblewrap, a pids "
                     "cgroup where one can be made; default: 1024)")
    explore = parser.add_argument_group("exploration (property-based scenarios)")
    explore.add_argument("--traincfg", metavar="FILE", default=None,
                         help="run with this traincfg.json instead of the generated one; the dataset is made "
                         "to match it (classes, load_size as image size unless --size, dataset_id)")
    explore.add_argument("--image-format", choices=("png", "jpg", "tif"), default=None,
                         help="format of the dataset's images (default: jpg for detection, png otherwise); "
                         "segmentation and change-detection labels take the same extension")
    explore.add_argument("--explore", type=_natural, default=0, metavar="N",
                         help="also run N generated valid configurations (scenarios explore-1..N); the first "
                         "failing one is shrunk to the simplest and saved as a traincfg (default: 0)")
    explore.add_argument("--seed", type=int, default=None, metavar="S",
                         help="seed of the generated configurations: the same seed, the same ones "
                         "(default: random, shown in the report)")
    explore.add_argument("--explore-budget", type=_seconds, default=None, metavar="SECONDS",
                         help="stop generating (and shrinking) once exploration has taken this long")
    add_report_options(parser)


def _read_traincfg(path: str) -> dict[str, object]:
    """The traincfg file of --traincfg as an object, read as validate-cfg reads one; UsageError otherwise.

    Its ``label`` may be JSON or the Python-literal form scripts eval, as validate-cfg accepts.
    """
    from pie_conformance._jsonio import StrictJSONError, read_file, strict_loads

    try:
        data = read_file(path, "traincfg")
    except UsageError as exc:
        raise UsageError(f"--traincfg {path}: cannot read it ({exc})") from None
    try:
        cfg = strict_loads(data)
    except StrictJSONError as exc:
        raise UsageError(f"--traincfg {path}: expected a JSON object, got text that is not JSON ({exc})") \
            from None
    if not isinstance(cfg, dict):
        raise UsageError(f"--traincfg {path}: expected a JSON object, got {type(cfg).__name__}")
    return cfg


#: The command-line flag of each check option, to name it in a message.
_FLAGS = {"task": "--task", "epochs": "--epochs", "images": "--images", "size": "--size",
          "gpu_num": "--gpu-num", "timeout": "--timeout", "scenarios": "--scenario", "python": "--python",
          "keep": "--keep",
          "image_format": "--image-format", "explore": "--explore", "explore_budget": "--explore-budget",
          "traincfg": "--traincfg", "sandbox": "--sandbox"}


def options_from_args(args: argparse.Namespace, keep: str | None) -> CheckOptions:
    """The check options the command line asks for; a bad value is a UsageError naming its flag."""
    from pie_conformance.harness.options import DEFAULT_IMAGES, DEFAULT_TIMEOUT, CheckOptions, OptionError
    from pie_conformance.harness.sandbox import limits_from_options

    traincfg = _read_traincfg(args.traincfg) if args.traincfg else None
    limits = limits_from_options(memory_mib=args.memory_limit, file_mib=args.file_size_limit,
                                 processes=args.max_processes)
    try:
        return CheckOptions(
            task=args.task, epochs=args.epochs, images=args.images or DEFAULT_IMAGES, size=args.size,
            gpu_num=args.gpu_num, timeout=args.timeout or DEFAULT_TIMEOUT,
            scenarios=tuple(args.scenarios or ()),
            python=args.python or sys.executable, keep=Path(keep) if keep else None,
            check_buffering=args.check_buffering, traincfg=traincfg, explore=args.explore, seed=args.seed,
            explore_budget=args.explore_budget,
            image_format=args.image_format or "",
            explore_dir=Path(args.keep or "."), sandbox=args.sandbox, limits=limits,
        )
    except OptionError as exc:
        raise UsageError(f"{_FLAGS.get(exc.option, exc.option)}: {exc}") from None


def execute(args: argparse.Namespace) -> int:
    """Run the check and write the report; the exit status says whether the script is conformant."""
    from pie_conformance.commands.report import HtmlAfterRun
    from pie_conformance.harness.check import check_script

    html = HtmlAfterRun(args.html, args.keep)  # --html without --keep keeps the run in a temporary folder
    bar = None
    try:
        options = options_from_args(args, html.keep)
        if args.format == "text" and sys.stderr.isatty():
            from pie_conformance.harness._progressbar import ProgressBar

            bar = ProgressBar(sys.stderr)
        report = check_script(args.path, options, on_progress=bar)
        html.write()
    finally:
        if bar is not None:
            bar.close()
        html.close()
    status = emit_report(report, args)
    if "explore" in report.extra:
        from pie_conformance.explore import summary_lines

        # On stderr, so that a JSON report on stdout stays one document.
        for line in summary_lines(report.extra["explore"]):
            sys.stderr.write(line + "\n")
    return status
