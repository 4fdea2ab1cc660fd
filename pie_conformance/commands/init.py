"""``pie-check init --task T DIR``: a conformant starting train.py, from the reference script of the task.

The reference scripts ship inside the package (``pie_conformance/_reference/<task>/``), so this works from a
plain ``pip install pie-conformance``. The folder written is what the platform receives: ``train.py`` with its
modules, and a README.md saying what to change first; ``pie-check run DIR --task T`` passes on it as it is.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from pie_conformance.errors import UsageError
from pie_conformance.tasks import TASKS

HELP = "write a conformant starting train.py for a task (from the bundled reference scripts) into DIR"

#: Per task: (what the model is, the validation score that picks the best epoch, its trainlog key).
_TASK_NOTES: dict[str, tuple[str, str]] = {
    "segmentation": ("a LinkNet34 (ResNet34 encoder)", "the mean IoU of the validation set (`IoU`)"),
    "change_detection": ("an FC-Siam-diff network", "the F1 score of the change class(es) (`score`)"),
    "detection": ("a YOLO-style single-stage detector", "mAP at IoU 0.5 (`mAP`)"),
}


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check init``."""
    parser.add_argument("folder", metavar="DIR", help="the folder to write (created; must be empty)")
    parser.add_argument("--task", required=True, choices=TASKS, help="the kind of training the script does")
    parser.add_argument("--force", action="store_true",
                        help="write into a DIR that is not empty (files of the same name are replaced)")


def reference_files(task: str) -> dict[str, bytes]:
    """The files of the bundled reference script of ``task``: name -> content (``.py`` and README.md)."""
    folder: Any = resources.files("pie_conformance").joinpath("_reference").joinpath(task)
    files = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith((".py", ".md"))
    }
    if "train.py" not in files:
        raise UsageError(f"the installed kit holds no reference script for {task} (a broken install?)")
    return files


def starter_readme(task: str, folder: str, reference_readme: str) -> str:
    """The README.md of a new folder: what to change first, then the reference script's own notes."""
    model, score = _TASK_NOTES[task]
    # The reference README's title names the reference script; the rest describes the starting script.
    about = reference_readme
    if about.startswith("#"):
        about = about.split("\n", 1)[-1].lstrip()
    return f"""# A PIE-Engine training script for {task.replace("_", " ")}

Written by `pie-check init --task {task}` from the kit's reference script: it passes `pie-check run` as it
is. Change it step by step, and check again after each step:

```bash
pie-check run {shlex.quote(folder)} --task {task}
```

## What to change

1. **The model** (`model.py`): {model} trained from random weights. Put yours here; keep one output per
   class of `label`, in its order. Nothing may be downloaded at run time (no `pretrained=True`, no `pip`):
   the platform gives the script no internet.
2. **Training** (`train.py`: the optimiser, the loss, `PATIENCE` of early stopping, augmentation). Keep the
   order of the outputs after every epoch: weights, pictures, `trainlog.json`, then `[Process: k/N]`.
3. **The metrics** (`metrics.py` and `DESCRIPTION` in `train.py`): the best epoch is chosen by {score};
   every key written to `trainlog.json` needs a `description`, and ratios stay in [0, 1].
4. **What not to change**: reading the parameters (`config.py`: `traincfg.json`, else the JSON line on
   standard input), reading the data through `aiUtils` (`data.py`), and the paths under `output/`
   (`outputs.py`). These are what the platform checks.

The rules behind each point: `pie-check rules` (or docs/rules.md of pie-conformance).

## About the starting script

{about}"""


def execute(args: argparse.Namespace) -> int:
    """Write the folder; 0 when written."""
    target = Path(args.folder)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: expected a folder to write the script into, got a file")
    if target.is_dir() and any(target.iterdir()) and not args.force:
        raise UsageError(f"{target} is not empty; choose a new folder, or add --force to write into it")
    files = reference_files(args.task)
    readme = starter_readme(args.task, str(target), files.pop("README.md", b"").decode("utf-8"))
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, data in sorted(files.items()):
            (target / name).write_bytes(data)
        (target / "README.md").write_text(readme, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write into {target}: {exc.strerror or exc}") from None
    names = ", ".join(sorted(files)) + ", README.md"
    sys.stdout.write(
        f"wrote a {args.task} train.py to {target} ({names})\n"
        f"next: read {target / 'README.md'}, then check it with: "
        f"pie-check run {shlex.quote(str(target))} --task {args.task}\n"
    )
    return 0
