"""LOG rules: ``output/trainlog.json``, judged one piece at a time so a growing log is checked incrementally.

The checker (:mod:`pie_conformance.trainlog`) cuts a trainlog into pieces and hands each to every LOG rule:

- :class:`LogFile`: whether the file exists and parses (LOG001, LOG002);
- :class:`EpochEntry`: one element of ``epochs`` (LOG003 shape, LOG007 classes, LOG008 keys, LOG009 values),
  judged once and cached while its bytes stay the same;
- :class:`LogDocument`: everything else, judged at every snapshot (LOG003-LOG006, LOG008-LOG010 on ``best``).

Each function judges one kind of piece and registers for it (``on=``); a rule that judges two kinds of
piece has two functions under its ID.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pie_conformance.findings import Problem
from pie_conformance.rules import RUN_SCENARIOS, Phase, rule
from pie_conformance.traincfg import TrainCfg, json_int

__all__ = [
    "TIME_FORMAT",
    "TRAINLOG_PATH",
    "EpochEntry",
    "LogDocument",
    "LogFile",
    "epoch_number",
    "metric_kind",
    "parse_time",
]

#: Where the platform reads the log, relative to the working directory.
TRAINLOG_PATH = "output/trainlog.json"
#: The time format of create_time and end_time (guide 1.4.2: time.strftime with this format).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_DIGITS_RE = re.compile(r"[0-9]+")
#: The script stamps whole seconds; its clock and the kit's may straddle a second boundary.
_CLOCK_SLACK = timedelta(seconds=2)
_SHOWN = 3  # examples quoted in one message before "and N more"

_REQUIRED_TOP = ("training_id", "create_time", "description", "epochs", "best", "end_time")
_SPLITS = ("train", "valid")

# Metric names that are ratios, as whole names or as one "_"-separated part of a name
# (train_precision, mean_iou, F1_score, mAP@0.5). Single letters only count as whole names.
_RATIO_PARTS = frozenset(
    {"precision", "recall", "score", "f1", "f1score", "iou", "miou", "fwiou", "map", "map50", "map75",
     "ap", "ap50", "ap75", "acc", "accuracy", "macc", "oa", "dice", "mdice", "sensitivity", "specificity"}
)
_RATIO_WHOLE = frozenset({"p", "r", "f", "f1_score", "f1-score", "mean_iou", "pixel_acc", "pa", "mpa"})


def metric_kind(key: str) -> str | None:
    """``"ratio"`` (in [0,1]), ``"loss"`` (>= 0), ``"kappa"`` (in [-1,1]) or None (any finite number)."""
    low = key.strip().lower()
    if "loss" in low:
        return "loss"
    if low in _RATIO_WHOLE:
        return "ratio"
    parts = [p for p in re.split(r"[^0-9a-z]+", low) if p]
    if "kappa" in parts:
        return "kappa"
    # "mAP@0.5" splits into map, 0, 5: the name part decides.
    if any(p in _RATIO_PARTS for p in parts):
        return "ratio"
    return None


def parse_time(value: object) -> datetime | None:
    """A ``%Y-%m-%d %H:%M:%S`` string as a naive datetime, or None when it is not exactly that."""
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        return None


def epoch_number(entry: object) -> int | None:
    """The entry's epoch number: an integer or a string of digits ("1" and 1 both allowed)."""
    if not isinstance(entry, dict):
        return None
    value = entry.get("epoch")
    if isinstance(value, str):
        return int(value) if _DIGITS_RE.fullmatch(value) and len(value) < 20 else None
    return json_int(value)


def _type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(type(value), "value")


def _short(value: object, limit: int = 50) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a value nested nearly as deep as the parser allows
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _some(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- the pieces -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    """The file itself at one snapshot: missing, unreadable as strict JSON, or fine."""

    missing: bool = False
    syntax_error: str | None = None  # why it is not strict UTF-8 JSON
    path: str = TRAINLOG_PATH


@dataclass(frozen=True)
class EpochEntry:
    """One element of ``epochs`` with what judging it needs; its problems do not depend on its position."""

    entry: Any
    description_keys: frozenset[str] | None  # None when description is not an object (LOG003's finding)
    class_names: tuple[str, ...] | None  # the traincfg's class_name; None: unknown, any name allowed
    path: str = TRAINLOG_PATH


@dataclass(frozen=True)
class LogDocument:
    """The whole document but the epoch entries' insides, with the facts about the run the checker keeps."""

    top: Any  # the parsed document; its "epochs" is the list of entries when it is an array
    epoch_numbers: tuple[int | None, ...]  # epoch_number() of each entry, in order
    traincfg: TrainCfg | None = None
    progress_k: int | None = None  # the highest k the progress lines announced so far
    final: bool = False  # the run has ended: end_time must be set
    run_window: tuple[datetime, datetime] | None = None  # the run's start and end, script local time
    first_create_time: str | None = None  # create_time as first seen in this run
    path: str = TRAINLOG_PATH

    @property
    def members(self) -> Mapping[str, Any]:
        """The top-level object's members ({} when the document is not an object)."""
        return self.top if isinstance(self.top, dict) else {}

    @property
    def description_keys(self) -> frozenset[str] | None:
        """The keys of description, or None when it is not an object."""
        desc = self.members.get("description")
        return frozenset(desc) if isinstance(desc, dict) else None


# -- LOG001, LOG002: the file -----------------------------------------------------------------------------


@rule("LOG001", phase=Phase.LOG, on=LogFile, scenarios=RUN_SCENARIOS)
def trainlog_exists(piece: LogFile) -> Iterator[Problem]:
    """``output/trainlog.json`` exists when each progress line is read."""
    if piece.missing:
        yield Problem(
            f"expected {piece.path} when the progress line was read, got no such file",
            hint="write output/trainlog.json (next to train.py, not /output) before printing [Process: k/N]",
            path=piece.path,
        )


@rule("LOG002", phase=Phase.LOG, on=LogFile)
def trainlog_is_strict_json(piece: LogFile) -> Iterator[Problem]:
    """It is strict UTF-8 JSON (no NaN, Infinity, trailing garbage)."""
    if piece.syntax_error:
        hint = "write the whole log in one go with json.dumps(log, allow_nan=False) to a file opened with 'w'"
        if "NaN" in piece.syntax_error or "Infinity" in piece.syntax_error:
            hint = (
                "a metric was NaN or infinite: write a finite number (or leave the key out); "
                "json.dumps(..., allow_nan=False) catches it"
            )
        elif "UTF-8" in piece.syntax_error:
            hint = "open the file with encoding='utf-8'"
        yield Problem(f"expected strict UTF-8 JSON, got: {piece.syntax_error}", hint=hint, path=piece.path)


# -- LOG003: the shape ------------------------------------------------------------------------------------


def _entry_shape(entry: Any) -> Iterator[str]:
    if not isinstance(entry, dict):
        yield f"expected an epoch entry to be an object, got {_type(entry)}"
        return
    missing = [k for k in ("epoch", *_SPLITS) if k not in entry]
    if missing:
        yield f"expected an epoch entry with epoch, train and valid, got none for {', '.join(missing)}"
    if "epoch" in entry and epoch_number(entry) is None:
        yield f"expected epoch to be an integer or a string of digits, got {_short(entry['epoch'])}"
    for split in _SPLITS:
        items = entry.get(split)
        if split in entry and not isinstance(items, list):
            yield f"expected {split} to be an array of class entries, got {_type(items)}"
            continue
        for i, item in enumerate(items or ()):
            if not isinstance(item, dict):
                yield f"expected {split}[{i}] to be an object with class and values, got {_type(item)}"
                continue
            if not isinstance(item.get("class"), str):
                got = "none" if "class" not in item else _type(item["class"])
                yield f"expected {split}[{i}].class to be a string, got {got}"
            if not isinstance(item.get("values"), dict):
                got = "none" if "values" not in item else _type(item["values"])
                yield f"expected {split}[{i}].values to be an object of metric numbers, got {got}"


def _document_shape(doc: LogDocument) -> Iterator[str]:
    top = doc.top
    if not isinstance(top, dict):
        yield f"expected the trainlog to be a JSON object, got {_type(top)}"
        return
    missing = [k for k in _REQUIRED_TOP if k not in top]
    if missing:
        yield f"expected the keys {', '.join(_REQUIRED_TOP)}, got none for {', '.join(missing)}"
    for key in ("training_id", "create_time", "end_time"):
        if key in top and not isinstance(top[key], str):
            yield f"expected {key} to be a string, got {_type(top[key])} {_short(top[key])}"
    desc = top.get("description")
    if "description" in top:
        if not isinstance(desc, dict):
            yield f"expected description to be an object (metric key -> display name), got {_type(desc)}"
        else:
            bad = [k for k, v in desc.items() if not isinstance(v, str)]
            if bad:
                yield f"expected description's display names to be strings, got other values for {_some(bad)}"
    if "epochs" in top and not isinstance(top["epochs"], list):
        yield f"expected epochs to be an array of epoch entries, got {_type(top['epochs'])}"
    best = top.get("best")
    if "best" in top and best != "" and not isinstance(best, dict):
        yield f"expected best to be \"\" or an object of metric numbers, got {_type(best)} {_short(best)}"


_SHAPE_HINT = "follow the trainlog layout of the guide (section 3.5); see `pie-check schema trainlog`"


@rule("LOG003", phase=Phase.LOG, on=EpochEntry)
def epoch_entry_matches_schema(piece: EpochEntry) -> Iterator[Problem]:
    """An epoch entry matches schema ``trainlog``."""
    for message in _entry_shape(piece.entry):
        yield Problem(message, hint=_SHAPE_HINT, path=piece.path)


@rule("LOG003", phase=Phase.LOG, on=LogDocument)
def document_matches_schema(piece: LogDocument) -> Iterator[Problem]:
    """The document around the epoch entries matches schema ``trainlog``."""
    for message in _document_shape(piece):
        yield Problem(message, hint=_SHAPE_HINT, path=piece.path)


# -- LOG004, LOG005, LOG006: identity, times, numbering ---------------------------------------------------


@rule("LOG004", phase=Phase.LOG, on=LogDocument)
def training_id_matches(piece: LogDocument) -> Iterator[Problem]:
    """``training_id`` equals the traincfg's."""
    if piece.traincfg is None or piece.traincfg.training_id is None:
        return
    got = piece.members.get("training_id")
    if isinstance(got, str) and got != piece.traincfg.training_id:
        yield Problem(
            f"expected training_id {piece.traincfg.training_id!r} (the traincfg's), got {_short(got)}",
            hint="copy params['training_id'] into the log; do not make one up",
            path=piece.path,
        )


@rule("LOG005", phase=Phase.LOG, on=LogDocument)
def times_are_right(piece: LogDocument) -> Iterator[Problem]:
    """Times have the format; create_time never changes; end_time >= create_time and is set last."""
    m = piece.members
    fmt_hint = 'stamp times with time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())'
    created = parse_time(m.get("create_time"))
    if isinstance(m.get("create_time"), str) and created is None:
        yield Problem(f"expected create_time as {TIME_FORMAT}, got {_short(m['create_time'])}",
                      hint=fmt_hint, path=piece.path)
    end = m.get("end_time")
    ended = parse_time(end)
    if isinstance(end, str) and end != "" and ended is None:
        yield Problem(f"expected end_time \"\" or {TIME_FORMAT}, got {_short(end)}",
                      hint=fmt_hint, path=piece.path)
    if (
        piece.first_create_time is not None
        and isinstance(m.get("create_time"), str)
        and m["create_time"] != piece.first_create_time
    ):
        yield Problem(
            f"expected create_time to stay {piece.first_create_time!r} for the whole run, "
            f"got {m['create_time']!r}",
            hint="stamp create_time once, before the first epoch, and keep it in every rewrite of the log",
            path=piece.path,
        )
    if created is not None and ended is not None and ended < created:
        yield Problem(f"expected end_time >= create_time ({m['create_time']}), got {end}",
                      hint="stamp end_time when training ends, with the same clock", path=piece.path)
    if piece.final and end == "":
        yield Problem(
            "expected end_time to be set after the last epoch, got \"\"",
            hint='set log["end_time"] = time.strftime("%Y-%m-%d %H:%M:%S") before the last write',
            path=piece.path,
        )


@rule("LOG012", phase=Phase.LOG, on=LogDocument, scenarios=RUN_SCENARIOS)
def create_time_within_run(piece: LogDocument) -> Iterator[Problem]:
    """``create_time`` lies within the run, in the script's local time."""
    created = parse_time(piece.members.get("create_time"))
    if created is None or piece.run_window is None:
        return  # no run to compare with (an offline file), or LOG005 reports the format
    start, stop = piece.run_window
    if start.replace(microsecond=0) - _CLOCK_SLACK <= created <= stop + _CLOCK_SLACK:
        return
    offset = (created - start).total_seconds() / 3600
    utc = abs(offset + 8) < 0.6  # the kit gives the script the platform's zone, UTC+8
    yield Problem(
        f"expected create_time within the run ({start:{TIME_FORMAT}} .. {stop:{TIME_FORMAT}}, "
        f"the script's local time), got {piece.members['create_time']!r}"
        + (" (8 hours early: UTC, not local time)" if utc else ""),
        hint="stamp the local time when training starts (time.strftime(..., time.localtime())), not a "
        "constant or UTC; the platform shows it as local time",
        path=piece.path,
    )


@rule("LOG006", phase=Phase.LOG, on=LogDocument)
def epochs_numbered(piece: LogDocument) -> Iterator[Problem]:
    """Epochs are numbered 1..k with no gap, and k equals the highest k announced so far."""
    numbers = piece.epoch_numbers
    # The common case in one C-level comparison: the rule runs at every progress line of a long run.
    in_order = numbers == tuple(range(1, len(numbers) + 1))
    for i, n in enumerate(() if in_order else numbers):
        if n is not None and n != i + 1:
            yield Problem(
                f"expected epoch entry {i + 1} to be numbered {i + 1}, got {_short(n)}"
                + (" (numbering starts at 0)" if i == 0 and n == 0 else ""),
                hint='append {"epoch": epoch + 1, ...} once per finished epoch (epoch counting from 0)',
                path=piece.path,
                epoch=i + 1,
            )
            break  # one gap shifts every later number; the first says it all
    k = piece.progress_k
    if k is None or not isinstance(piece.members.get("epochs"), list):
        return
    # While the run goes on, a snapshot may catch the script already writing the next epochs (it keeps
    # running until the line is read): only fewer entries than announced is its fault. At the end the
    # count must match exactly.
    if len(numbers) < k or (piece.final and len(numbers) != k):
        hint = "write the log with this epoch's entry before printing its progress line"
        if len(numbers) > k:
            hint = "print one progress line per epoch entry: every entry in the log needs its [Process: k/N]"
        yield Problem(
            f"expected {k} epoch entries when [Process: {k}/N] was read, got {len(numbers)}",
            hint=hint,
            path=piece.path,
            epoch=k,
        )


# -- LOG007, LOG008, LOG009: inside epoch entries (and best) ----------------------------------------------


def _class_items(entry: Any) -> Iterator[tuple[str, int, dict[str, Any]]]:
    if not isinstance(entry, dict):
        return
    for split in _SPLITS:
        items = entry.get(split)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    yield split, i, item


@rule("LOG007", phase=Phase.LOG, on=EpochEntry)
def classes_are_known(piece: EpochEntry) -> Iterator[Problem]:
    """``train`` and ``valid`` start with class ``all``; other classes come from ``class_name``, each once."""
    if not isinstance(piece.entry, dict):
        return
    for split in _SPLITS:
        items = piece.entry.get(split)
        if not isinstance(items, list):
            continue
        names = [item.get("class") if isinstance(item, dict) else None for item in items]
        if not names or names[0] != "all":
            got = "an empty list" if not names else f"{_short(names[0])} first"
            yield Problem(f"expected {split} to start with class 'all', got {got}",
                          hint=f'append {{"class": "all", "values": {{...}}}} to {split} first',
                          path=piece.path)
        seen: set[str] = set()
        twice: list[str] = []
        unknown: list[str] = []
        allowed = set(piece.class_names) if piece.class_names is not None else None
        for j, name in enumerate(names):
            if not isinstance(name, str):
                continue  # LOG003
            if name in seen:
                twice.append(name)
            seen.add(name)
            if j > 0 and allowed is not None and name not in allowed and name != "all":  # "all": see above
                unknown.append(name)
        if twice:
            yield Problem(f"expected each class once in {split}, got {_some(sorted(set(twice)))} repeated",
                          hint="one entry per class per epoch", path=piece.path)
        if unknown:
            known = ",".join(piece.class_names or ())
            yield Problem(
                f"expected {split} classes from class_name ({known}), got {_some(unknown)}",
                hint="name per-class entries with the traincfg's class_name.split(','), spelled the same (or "
                "with each label's class_title)",
                path=piece.path,
            )


def _undescribed(
    used: Iterable[str], allowed: frozenset[str] | None, where: str, path: str
) -> Iterator[Problem]:
    if allowed is None:
        return  # description is not an object: LOG003 says so
    unknown = [k for k in used if k not in allowed]
    if unknown:
        yield Problem(
            f"expected every metric key in {where} to be a key of description, got {_some(unknown)}",
            hint="add each metric to description (key -> display name), e.g. "
            + ", ".join(f'"{k}": "{k}"' for k in unknown[:_SHOWN]),
            path=path,
        )


@rule("LOG008", phase=Phase.LOG, on=EpochEntry)
def entry_keys_described(piece: EpochEntry) -> Iterator[Problem]:
    """Every metric key used in an epoch entry's ``values`` is a key of ``description``."""
    used: dict[str, None] = {}
    for _, _, item in _class_items(piece.entry):
        values = item.get("values")
        if isinstance(values, dict):
            used.update(dict.fromkeys(values))
    yield from _undescribed(used, piece.description_keys, "values", piece.path)


@rule("LOG008", phase=Phase.LOG, on=LogDocument)
def best_keys_described(piece: LogDocument) -> Iterator[Problem]:
    """Every metric key used in ``best`` is a key of ``description``."""
    best = piece.members.get("best")
    used = dict.fromkeys(best) if isinstance(best, dict) else {}
    yield from _undescribed(used, piece.description_keys, "best", piece.path)


_BOUNDS_BY_KIND: dict[str | None, tuple[float, float]] = {
    "ratio": (0.0, 1.0),
    "loss": (0.0, math.inf),
    "kappa": (-1.0, 1.0),
    None: (-math.inf, math.inf),
}
_KIND_WORDS = {"ratio": "a ratio, expected in [0,1]", "loss": "a loss, expected >= 0",
               "kappa": "kappa, expected in [-1,1]"}
_bounds_memo: dict[str, tuple[float, float]] = {}


def _bounds(key: str) -> tuple[float, float]:
    # Memoised: a log repeats the same few keys in every class of every epoch.
    found = _bounds_memo.get(key)
    if found is None:
        found = _BOUNDS_BY_KIND[metric_kind(key)]
        if len(_bounds_memo) < 10_000:
            _bounds_memo[key] = found
    return found


def _values_hint(bad: list[str]) -> str:
    if any("not a number" in b for b in bad):
        return "write each metric as a JSON number (float(value)), not a string, null or a tensor's repr"
    return "write finite numbers: skip a metric that is undefined rather than writing inf"


def _entry_values(piece: EpochEntry) -> Iterator[tuple[str, Any, str, Any]]:
    """(split, class, metric key, value) of every metric value of an epoch entry."""
    for split, _, item in _class_items(piece.entry):
        values = item.get("values")
        if isinstance(values, dict):
            for key, value in values.items():
                yield split, item.get("class"), key, value


def _not_finite(value: Any) -> str | None:
    """Why a metric value is not a finite number, or None."""
    if not _is_number(value):
        return "not a number"
    if not isinstance(value, int) and not math.isfinite(value):
        return "not finite"
    return None


@rule("LOG009", phase=Phase.LOG, on=EpochEntry)
def entry_values_finite(piece: EpochEntry) -> Iterator[Problem]:
    """An epoch entry's metric values are finite numbers."""
    bad = [f"{split} {cls} {key}={_short(value, 30)} ({why})"
           for split, cls, key, value in _entry_values(piece) if (why := _not_finite(value))]
    if bad:
        yield Problem(f"expected metric values to be finite numbers, got {_some(bad)}",
                      hint=_values_hint(bad), path=piece.path)


def _out_of_range(key: str, value: Any) -> str | None:
    """Why a finite metric number lies outside its kind's range, or None."""
    if _not_finite(value) is not None:
        return None  # LOG009's
    lo, hi = _bounds(key)
    if lo <= value <= hi:
        return None
    kind = metric_kind(key) or ""
    note = "; a percentage?" if kind == "ratio" and 1 < value <= 100 else ""
    return f"{key}={_short(value, 30)} ({_KIND_WORDS[kind]}{note})"


def _range_hint(bad: list[str]) -> str:
    if any("percentage" in b for b in bad):
        return "write ratios as fractions in [0,1]: divide percentages by 100 (45.3 -> 0.453)"
    return "write ratios as fractions in [0,1] and losses >= 0"


@rule("LOG011", phase=Phase.LOG, on=EpochEntry)
def entry_values_in_range(piece: EpochEntry) -> Iterator[Problem]:
    """An epoch entry's ratios lie in [0,1] and its losses are >= 0."""
    bad = [f"{split} {cls} {why}" for split, cls, key, value in _entry_values(piece)
           if (why := _out_of_range(key, value))]
    if bad:
        yield Problem(f"expected metric values in their range, got {_some(bad)}", hint=_range_hint(bad),
                      path=piece.path)


@rule("LOG011", phase=Phase.LOG, on=LogDocument)
def best_values_in_range(piece: LogDocument) -> Iterator[Problem]:
    """``best``'s ratios lie in [0,1] and its losses are >= 0."""
    best = piece.members.get("best")
    if not isinstance(best, dict):
        return  # LOG010 says what best should be
    bad = [f"best {why}" for k, v in best.items() if (why := _out_of_range(k, v))]
    if bad:
        yield Problem(f"expected best's values in their range, got {_some(bad)}", hint=_range_hint(bad),
                      path=piece.path)


@rule("LOG010", phase=Phase.LOG, on=LogDocument)
def best_after_first_epoch(piece: LogDocument) -> Iterator[Problem]:
    """After the first epoch ``best`` is an object of metric numbers."""
    if not isinstance(piece.members.get("epochs"), list):
        return
    if not piece.epoch_numbers or "best" not in piece.members:
        return
    best = piece.members["best"]
    hint = 'after each epoch set log["best"] = {"<metric>": best_value, ...} with numbers'
    if best == "":
        yield Problem(
            f"expected best to be an object of metric numbers after epoch {len(piece.epoch_numbers)}, "
            'got ""',
            hint=hint, path=piece.path,
        )
    elif isinstance(best, dict):
        if not best:
            yield Problem("expected best to hold at least one metric after the first epoch, got {}",
                          hint=hint, path=piece.path)
        bad = [f"{k}={_short(v, 30)}" for k, v in best.items() if not _is_number(v)]
        if bad:
            yield Problem(f"expected best's values to be numbers, got {_some(bad)}", hint=hint,
                          path=piece.path)
