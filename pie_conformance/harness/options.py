"""The options of one check, in the API's words: one frozen object, validated when it is made.

The command line, the pytest plugin and the fixtures each translate their own flags into a
:class:`CheckOptions`; a bad value raises :class:`OptionError`, which names the option as the API spells it
(``gpu_num``) so that each front end can name it as its users spell it (``--gpu-num``, ``--pie-gpu-num``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pie_conformance.errors import UsageError
from pie_conformance.tasks import TASKS

if TYPE_CHECKING:
    from pie_conformance.harness.sandbox import ResourceLimits, SandboxPlan

__all__ = [
    "DEFAULT_IMAGES", "DEFAULT_SIZE", "DEFAULT_TIMEOUT", "IMAGE_FORMATS", "CheckOptions", "OptionError",
]

DEFAULT_TIMEOUT = 600.0
DEFAULT_IMAGES = 4
DEFAULT_SIZE = (64, 64)
IMAGE_FORMATS = ("png", "jpg", "tif")


class OptionError(UsageError):
    """A check option with a value the kit cannot use; ``option`` is its API name."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class CheckOptions:
    """How to check one script: the task, the dataset, the scenarios, the limits, what to keep.

    ``epochs`` and ``gpu_num`` go into the generated traincfg (a given ``traincfg`` wins over both);
    ``images``/``size``/``image_format`` shape the synthetic dataset; ``scenarios`` (default: all) name
    the runs; ``check_buffering`` adds a run without ``PYTHONUNBUFFERED`` (PRG006); ``explore`` adds that
    many generated configurations, drawn from ``seed`` within ``explore_budget`` seconds, a failing one
    saved in ``explore_dir``; ``keep`` names a new or empty folder where the runs are kept; ``sandbox`` is
    ``auto``, ``strict`` or ``none`` (or a ready plan), ``limits`` the resource bounds. ``sources`` reads the
    script folder's Python sources before any run (never running them) and reports what the SRC rules
    predict, so that a run that crashes early still tells the author what else will fail.
    """

    task: str
    epochs: int = 2
    images: int = DEFAULT_IMAGES
    size: tuple[int, int] | None = None  # None: the default size, or the traincfg's load_size
    image_format: str = ""  # "": the task's usual format (detection jpg, the others png)
    gpu_num: int = 0
    timeout: float = DEFAULT_TIMEOUT
    scenarios: tuple[str, ...] = ()  # empty: every scenario
    python: str = field(default_factory=lambda: sys.executable)
    keep: Path | None = None
    check_buffering: bool = False
    traincfg: Mapping[str, Any] | None = None
    explore: int = 0
    seed: int | None = None
    explore_budget: float | None = None
    explore_dir: Path | None = None
    sandbox: str | SandboxPlan = "auto"
    limits: ResourceLimits | None = None
    sources: bool = True  # read the script folder's sources first (SRC rules, scenario "source")

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalising a frozen dataclass's own fields, once, here
        if self.task not in TASKS:
            raise OptionError("task", f"expected a task among {', '.join(TASKS)}, got {self.task!r}")
        _at_least(self.epochs, 1, "epochs")
        _at_least(self.images, 1, "images")
        _at_least(self.gpu_num, 0, "gpu_num")
        _at_least(self.explore, 0, "explore")
        if self.size is not None:
            size = tuple(self.size)
            if len(size) != 2 or min(size) < 16 or max(size) > 8192:
                raise OptionError("size",
                                  f"expected a size between 16 and 8192 pixels a side, got {self.size}")
            set_(self, "size", (int(size[0]), int(size[1])))
        if self.image_format not in ("", *IMAGE_FORMATS):
            raise OptionError("image_format", f"expected an image format among {', '.join(IMAGE_FORMATS)}, "
                              f"got {self.image_format!r}")
        if not float(self.timeout) > 0:
            raise OptionError("timeout", f"expected a positive timeout, got {self.timeout:g}")
        set_(self, "timeout", float(self.timeout))
        if self.explore_budget is not None and not self.explore_budget > 0:
            raise OptionError("explore_budget",
                              f"expected a positive explore budget, got {self.explore_budget:g}")
        set_(self, "scenarios", _scenarios(self.scenarios))
        if shutil.which(self.python) is None and not os.access(self.python, os.X_OK):
            raise OptionError("python",
                              f"expected a Python interpreter, got {self.python}: no such interpreter")
        for name in ("keep", "explore_dir"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, Path(value))
        if self.traincfg is not None:
            set_(self, "traincfg", dict(self.traincfg))

    @property
    def base_epochs(self) -> int:
        """The epochs of the baseline's traincfg (the given traincfg's when there is one)."""
        return int(self.traincfg["epochs"]) if self.traincfg is not None else self.epochs

    @property
    def base_gpu_num(self) -> int:
        """The gpu_num of the baseline's traincfg (the given traincfg's when there is one)."""
        return int(self.traincfg["gpu_num"]) if self.traincfg is not None else self.gpu_num

    def rule_options(self) -> frozenset[str]:
        """The switches rules declare they depend on (``check_buffering``; ``gpu`` when GPUs are given)."""
        flags = {"check_buffering"} if self.check_buffering else set()
        if self.base_gpu_num > 0:
            flags.add("gpu")
        return frozenset(flags)


def _at_least(value: int, least: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise OptionError(name, f"expected {name} of at least {least}, got {value!r}")


def _scenarios(names: Any) -> tuple[str, ...]:
    from pie_conformance.harness.scenarios import resolve

    try:
        return resolve((names,) if isinstance(names, str) else tuple(names or ()))
    except ValueError as exc:
        raise OptionError("scenarios", str(exc)) from None
