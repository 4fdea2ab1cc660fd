"""Options of the pytest plugin: the ``pie`` group, their ini twins, and the checks of their values.

Every option is declared once in :data:`OPTIONS`; the command-line flag and the ini key share the help
text. Values are checked in ``pytest_configure`` (not by argparse ``type=``) so that a bad value gives
the same message whether it came from the command line or from the ini file, naming where it came from.
Nothing heavy is imported here: this module is loaded with every pytest run of an environment that has
the kit installed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pie_conformance.tasks import TASKS


class OptionValueError(ValueError):
    """A value of a ``pie`` option or marker argument is refused; the message says what was expected."""


def _positive_int(raw: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise OptionValueError(f"expected an integer >= 1, got {raw!r}") from None
    if value < 1:
        raise OptionValueError(f"expected an integer >= 1, got {value}")
    return value


def _non_negative_int(raw: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise OptionValueError(f"expected an integer >= 0, got {raw!r}") from None
    if value < 0:
        raise OptionValueError(f"expected an integer >= 0, got {value}")
    return value


def _positive_seconds(raw: str) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise OptionValueError(f"expected a number of seconds > 0, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise OptionValueError(f"expected a number of seconds > 0, got {raw!r}")
    return value


def _task(raw: str) -> str:
    value = str(raw).strip()
    if value not in TASKS:
        close = difflib.get_close_matches(value, TASKS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise OptionValueError(f"expected one of {', '.join(TASKS)}, got {value!r}{hint}")
    return value


_SIZE = re.compile(r"^\s*(\d+)\s*[xX,]\s*(\d+)\s*$")


def parse_size(raw: Any) -> tuple[int, int]:
    """A picture size as ``(width, height)`` from ``"WxH"``, ``"W,H"`` or a pair of integers."""
    if isinstance(raw, (tuple, list)) and len(raw) == 2 and all(isinstance(v, int) for v in raw):
        w, h = int(raw[0]), int(raw[1])
    else:
        m = _SIZE.match(str(raw))
        if not m:
            raise OptionValueError(f"expected a size WxH such as 64x64, got {raw!r}")
        w, h = int(m.group(1)), int(m.group(2))
    if w < 1 or h < 1:
        raise OptionValueError(f"expected a size with positive width and height, got {raw!r}")
    return w, h


def _scenario(raw: str) -> str:
    value = str(raw).strip()
    try:
        from pie_conformance.harness.scenarios import SCENARIOS  # a light module: names and uuids only
    except ImportError:
        known: tuple[str, ...] = ("baseline", "resume", "resume-partial")
    else:
        known = tuple(SCENARIOS)
    if value not in known:
        close = difflib.get_close_matches(value, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise OptionValueError(f"expected a scenario among {', '.join(known)}, got {value!r}{hint}")
    return value


@dataclass(frozen=True)
class OptionSpec:
    """One option of the ``pie`` group: its flag, its ini twin, its help text and how a value is checked."""

    flag: str  # "--pie-epochs"
    ini: str  # "pie_epochs"
    help: str
    metavar: str | None = None
    convert: Callable[[str], Any] | None = None  # None: a boolean switch
    repeatable: bool = False
    ini_type: str = "string"

    @property
    def dest(self) -> str:
        """The attribute name of the parsed option on ``config.option``."""
        return self.ini


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "--pie-script",
        "pie_script",
        "a train.py (or the folder holding it) to check against the PIE-Engine contract; one test item per "
        "rule and scenario, all sharing one run of the script (repeatable)",
        metavar="PATH",
        convert=str,
        repeatable=True,
        ini_type="paths",
    ),
    OptionSpec(
        "--pie-task",
        "pie_task",
        f"the task of the checked scripts and the default task of the pie_* fixtures: {', '.join(TASKS)}",
        metavar="TASK",
        convert=_task,
    ),
    OptionSpec(
        "--pie-epochs",
        "pie_epochs",
        "epochs the checked scripts are asked to train (traincfg 'epochs'; default 2)",
        metavar="N",
        convert=_positive_int,
    ),
    OptionSpec(
        "--pie-timeout",
        "pie_timeout",
        "seconds a checked script may run before it is stopped (RUN002; default: the harness's limit)",
        metavar="SECONDS",
        convert=_positive_seconds,
    ),
    OptionSpec(
        "--pie-gpu-num",
        "pie_gpu_num",
        "traincfg 'gpu_num' given to the checked scripts (0 = no GPU visible; default 0)",
        metavar="N",
        convert=_non_negative_int,
    ),
    OptionSpec(
        "--pie-images",
        "pie_images",
        "training images in the synthetic dataset of a check and of pie_dataset (default: the harness's)",
        metavar="N",
        convert=_positive_int,
    ),
    OptionSpec(
        "--pie-size",
        "pie_size",
        "image size WxH of the synthetic dataset of a check and of pie_dataset (default: the harness's)",
        metavar="WxH",
        convert=parse_size,
    ),
    OptionSpec(
        "--pie-scenario",
        "pie_scenario",
        "scenario to run for each checked script: baseline, resume or resume-partial "
        "(repeatable; default: all)",
        metavar="NAME",
        convert=_scenario,
        repeatable=True,
        ini_type="args",
    ),
    OptionSpec(
        "--pie-explore",
        "pie_explore",
        "also run each checked script under N generated valid configurations (items explore-1..N; "
        "the first failing one is shrunk and saved as a traincfg in the current directory)",
        metavar="N",
        convert=_non_negative_int,
    ),
    OptionSpec(
        "--pie-seed",
        "pie_seed",
        "seed of the generated configurations of --pie-explore (default 0, so that every worker and "
        "rerun sees the same ones)",
        metavar="S",
        convert=_non_negative_int,
    ),
    OptionSpec(
        "--pie-explore-budget",
        "pie_explore_budget",
        "seconds after which --pie-explore stops generating (and shrinking) configurations",
        metavar="SECONDS",
        convert=_positive_seconds,
    ),
    OptionSpec(
        "--pie-check-buffering",
        "pie_check_buffering",
        "also run each checked script once without PYTHONUNBUFFERED, to judge PRG006 "
        "(unflushed progress lines)",
        ini_type="bool",
    ),
    OptionSpec(
        "--pie-fail-on-warning",
        "pie_fail_on_warning",
        "fail the test items of warnings of the contract (e.g. PRG005, OUT003) too, not only of errors",
        ini_type="bool",
    ),
)

#: Old names kept working: old ini key -> (the option it stands for, the old flag). Using one warns.
DEPRECATED_ALIASES: dict[str, tuple[str, str]] = {
    "pie_strict": ("pie_fail_on_warning", "--pie-strict"),
}

OPTION_BY_INI: dict[str, OptionSpec] = {o.ini: o for o in OPTIONS}


def add_options(parser: pytest.Parser) -> None:
    """Register every option of the ``pie`` group, each with its ini twin sharing the help text."""
    group = parser.getgroup("pie", "PIE-Engine train.py conformance (pie-conformance)")
    for spec in OPTIONS:
        if spec.convert is None:
            group.addoption(spec.flag, action="store_true", dest=spec.dest, default=None, help=spec.help)
            parser.addini(spec.ini, spec.help, type="bool", default=False)
        elif spec.repeatable:
            group.addoption(
                spec.flag, action="append", dest=spec.dest, default=None, metavar=spec.metavar, help=spec.help
            )
            parser.addini(spec.ini, spec.help, type=spec.ini_type, default=[])  # type: ignore[arg-type]
        else:
            group.addoption(
                spec.flag, action="store", dest=spec.dest, default=None, metavar=spec.metavar, help=spec.help
            )
            parser.addini(spec.ini, spec.help, type="string", default="")
    for old_ini, (new_ini, old_flag) in DEPRECATED_ALIASES.items():
        new_spec = OPTION_BY_INI[new_ini]
        text = f"deprecated: the old name of {new_spec.flag} ({new_ini})"
        group.addoption(old_flag, action="store_true", dest=old_ini, default=None, help=text)
        parser.addini(old_ini, text, type="bool", default=False)


@dataclass(frozen=True)
class PieSettings:
    """The checked values of the ``pie`` options (command line first, then the ini file)."""

    scripts: tuple[Path, ...] = ()
    task: str | None = None
    epochs: int | None = None
    timeout: float | None = None
    gpu_num: int | None = None
    images: int | None = None
    size: tuple[int, int] | None = None
    scenarios: tuple[str, ...] | None = None
    explore: int | None = None
    seed: int | None = None
    explore_budget: float | None = None
    check_buffering: bool = False
    fail_on_warning: bool = False


def _origin(spec: OptionSpec, from_cli: bool) -> str:
    return spec.flag if from_cli else f"ini option {spec.ini}"


def _check_script_path(raw: str, base: Path | None, origin: str) -> Path:
    # ``base``: the folder a relative command-line path starts from (ini paths come absolute).
    path = Path(raw).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if path.is_dir():
        if not (path / "train.py").is_file():
            raise pytest.UsageError(
                f"{origin}: expected a train.py or a folder holding one, got {raw} (no train.py in it)"
            )
        return (path / "train.py").resolve()
    if not path.exists():
        raise pytest.UsageError(f"{origin}: no such file: {raw}")
    if not path.is_file():
        raise pytest.UsageError(f"{origin}: expected a train.py, got {raw} (not a regular file)")
    return path.resolve()


def read_settings(config: pytest.Config) -> PieSettings:
    """Collect and check every ``pie`` option; a bad value raises ``pytest.UsageError`` naming the option."""
    _refuse_unknown_ini_keys(config)
    values: dict[str, Any] = {}
    invocation_dir = Path(config.invocation_params.dir)
    for spec in OPTIONS:
        cli = getattr(config.option, spec.dest, None)
        from_cli = cli is not None
        if spec.convert is None:
            values[spec.ini] = bool(cli) if from_cli else bool(config.getini(spec.ini))
            continue
        if spec.repeatable:
            raw_items: Sequence[Any] = list(cli) if cli is not None else (config.getini(spec.ini) or [])
            if spec.ini == "pie_script":
                # Command-line paths are relative to where pytest was started; ini paths to the ini file.
                base = invocation_dir if from_cli else None
                values[spec.ini] = tuple(
                    _check_script_path(str(p), base, _origin(spec, from_cli)) for p in raw_items
                )
            else:
                try:
                    items = tuple(spec.convert(str(v)) for v in raw_items)
                except OptionValueError as exc:
                    raise pytest.UsageError(f"{_origin(spec, from_cli)}: {exc}") from None
                values[spec.ini] = items or None
            continue
        raw = cli if from_cli else config.getini(spec.ini)
        if raw is None or (not from_cli and str(raw).strip() == ""):
            values[spec.ini] = None
            continue
        try:
            values[spec.ini] = spec.convert(raw)
        except OptionValueError as exc:
            raise pytest.UsageError(f"{_origin(spec, from_cli)}: {exc}") from None
    settings = PieSettings(
        scripts=values["pie_script"],
        task=values["pie_task"],
        epochs=values["pie_epochs"],
        timeout=values["pie_timeout"],
        gpu_num=values["pie_gpu_num"],
        images=values["pie_images"],
        size=values["pie_size"],
        scenarios=values["pie_scenario"],
        explore=values["pie_explore"],
        seed=values["pie_seed"],
        explore_budget=values["pie_explore_budget"],
        check_buffering=values["pie_check_buffering"],
        fail_on_warning=values["pie_fail_on_warning"] or _deprecated_alias(config, "pie_strict"),
    )
    if settings.scripts and settings.task is None:
        raise pytest.UsageError(
            "--pie-script needs the task of the script: add --pie-task with one of "
            f"{', '.join(TASKS)} (or the ini option pie_task)"
        )
    return settings


def _deprecated_alias(config: pytest.Config, old_ini: str) -> bool:
    # An old switch still works, with a warning that names the new one.
    new_ini, old_flag = DEPRECATED_ALIASES[old_ini]
    from_cli = bool(getattr(config.option, old_ini, None))
    if not from_cli and not config.getini(old_ini):
        return False
    from pie_conformance._pytest_items import PieConformanceWarning

    new_flag = OPTION_BY_INI[new_ini].flag
    used = old_flag if from_cli else f"ini option {old_ini}"
    config.issue_config_time_warning(
        PieConformanceWarning(f"{used} is deprecated: use {new_flag} (ini option {new_ini}), which does the "
                              "same"),
        stacklevel=2,
    )
    return True


def _refuse_unknown_ini_keys(config: pytest.Config) -> None:
    # pytest only warns about unknown ini keys; a misspelt pie_* key would silently change nothing,
    # so it is refused with the closest known key.
    try:
        unknown = config._get_unknown_ini_keys()
    except AttributeError:  # a pytest without the helper: pytest's own warning has to do
        return
    for key in sorted(unknown):
        if key.startswith("pie_") or key.startswith("pie-"):
            close = difflib.get_close_matches(key.replace("-", "_"), list(OPTION_BY_INI), n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(OPTION_BY_INI)})"
            raise pytest.UsageError(f"unknown ini option {key}{hint}")


#: Keyword arguments of ``@pytest.mark.pie``, with the checks of their values.
MARKER_ARGS: dict[str, Callable[[Any], Any]] = {}


def _marker_int(check: Callable[[str], int]) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionValueError(f"expected an integer, got {value!r}")
        return check(str(value))

    return convert


def _marker_classes(value: Any) -> Any:
    # Either a number of classes (the kit picks names, values and colours) or LabelClass objects.
    if isinstance(value, bool):
        raise OptionValueError(f"expected a number of classes or a sequence of LabelClass, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise OptionValueError(f"expected a number of classes >= 1, got {value}")
        return value
    if isinstance(value, (tuple, list)) and value:
        return tuple(value)
    raise OptionValueError(f"expected a number of classes or a sequence of LabelClass, got {value!r}")


def _marker_format(value: Any) -> str:
    if value not in ("png", "jpg", "tif"):
        raise OptionValueError(f"expected one of png, jpg, tif, got {value!r}")
    return str(value)


def _marker_scenarios(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise OptionValueError(f"expected a sequence of scenario names, got {value!r}")
    return tuple(_scenario(v) for v in value)


def _marker_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionValueError(f"expected a number of seconds, got {value!r}")
    return _positive_seconds(str(value))


def _marker_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise OptionValueError(f"expected True or False, got {value!r}")
    return value


MARKER_ARGS.update(
    task=_task,
    images=_marker_int(_positive_int),
    valid_images=_marker_int(_positive_int),
    size=parse_size,
    classes=_marker_classes,
    format=_marker_format,
    seed=_marker_int(_non_negative_int),
    epochs=_marker_int(_positive_int),
    gpu_num=_marker_int(_non_negative_int),
    timeout=_marker_timeout,
    scenarios=_marker_scenarios,
    readonly=_marker_bool,
)

MARKER_LINE = (
    "pie(task=None, images=None, valid_images=None, size=None, classes=None, format=None, seed=None, "
    "epochs=None, gpu_num=None, timeout=None, scenarios=None, readonly=True): configure the pie_dataset, "
    "pie_aiutils and pie_run fixtures of this test (keyword arguments only; unset ones come from the --pie-* "
    "options; readonly=False lets the test change its datasets)"
)


def check_marker_kwargs(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check the arguments of one ``@pytest.mark.pie``; raise :class:`OptionValueError` naming a bad one."""
    if args:
        raise OptionValueError(f"{where}: @pytest.mark.pie takes keyword arguments only, got {args!r}")
    checked: dict[str, Any] = {}
    for key, value in kwargs.items():
        convert = MARKER_ARGS.get(key)
        if convert is None:
            close = difflib.get_close_matches(key, list(MARKER_ARGS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(MARKER_ARGS)})"
            raise OptionValueError(f"{where}: @pytest.mark.pie got an unknown argument {key!r}{hint}")
        if value is None:
            continue
        try:
            checked[key] = convert(value)
        except OptionValueError as exc:
            raise OptionValueError(f"{where}: @pytest.mark.pie({key}=...): {exc}") from None
    return checked
