"""OUT rules: what ``output/`` holds when the platform reads each progress line (weights and pictures).

Every rule takes a :class:`~pie_conformance.facts.ProgressContext`. Work that is costly (decoding a
picture, loading weights) is asked of the context (``ctx.picture(rel)``, ``ctx.weights(rel)``), which the
harness memoises by the file's sha256, so a file that did not change is judged once per run and the cost of
a progress line does not grow with the number of epochs.

A missing picture is reported by OUT004 only; OUT005-OUT008 look at the pictures that exist.
"""

from __future__ import annotations

import ast
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pie_conformance.facts import REQUIRED_PICTURES, FileInfo, PictureInfo, ProgressContext
from pie_conformance.findings import Problem
from pie_conformance.rules import Phase, rule

PICTURE_DIR = "output/picture/"
FILES_DIR = "output/files/"
TRAINLOG = "output/trainlog.json"

_DIGITS = re.compile(r"\d+")

# Written by Python itself, not by the script's code: never worth a warning.
_IGNORED_PARTS = frozenset({"__pycache__", ".ipynb_checkpoints"})

_SAVE_CALL = "torch.save(model.state_dict(), os.path.join(basedir, 'output', 'files', model_name + '.th'))"
_SAVE_WEIGHTS_HINT = f"save the state dict, not the model: {_SAVE_CALL}"


# -- shared helpers -----------------------------------------------------------------------------------


def _required(ctx: ProgressContext) -> tuple[str, ...]:
    """Relpaths of the pictures the task requires."""
    return tuple(PICTURE_DIR + name for name in REQUIRED_PICTURES.get(ctx.task, ()))


def _good_pictures(ctx: ProgressContext) -> dict[str, PictureInfo]:
    """The required pictures that exist and decode, by relpath, in the task's order."""
    good: dict[str, PictureInfo] = {}
    for rel in _required(ctx):
        info = ctx.snapshot.files.get(rel)
        if info is None:
            continue
        pic = ctx.picture(rel)
        if pic.ok:
            good[rel] = pic
    return good


def _name(relpath: str) -> str:
    return posixpath.basename(relpath)


def _listing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def _stray_outside(ctx: ProgressContext, snapshot_outside: Mapping[str, FileInfo]) -> list[str]:
    """Relpaths written outside output/ that count for OUT010 (downloads and Python's caches excluded)."""
    found = []
    for rel in snapshot_outside:
        parts = rel.split("/")
        if _IGNORED_PARTS.intersection(parts) or rel in ctx.downloaded:
            continue
        found.append(rel)
    return sorted(found)


def _pattern(relpath: str) -> str:
    """The path with every number replaced, so pred_epoch1.png and pred_epoch2.png count as one kind.

    OUT009 and OUT010 report a kind of file once, where it first appears, not again at every epoch.
    """
    return _DIGITS.sub("#", relpath)


def _all_paths(ctx: ProgressContext) -> list[str]:
    """Every file the script has written in the run folder, inside output/ and outside."""
    return sorted(set(ctx.snapshot.files) | set(_stray_outside(ctx, ctx.snapshot.outside)))


# -- OUT001 to OUT003: the weights --------------------------------------------------------------------


@rule("OUT001", phase=Phase.PROGRESS)
def weights_exist(ctx: ProgressContext) -> Iterator[Problem]:
    """``output/files/<model_name>.th`` exists when each progress line is read."""
    want = ctx.weights_relpath
    if want in ctx.snapshot.files:
        return
    elsewhere = [p for p in _all_paths(ctx) if p.endswith(".th") and p != want]
    if elsewhere:
        found = f"found {_listing(elsewhere)} instead"
        slips = [h for h in (_weights_slip_hint(ctx, p) for p in elsewhere) if h]
        exact = f"write the weights to exactly {want} (model_name is {ctx.model_name!r})"
        hint = slips[0] if slips else exact
    else:
        found = "found no weights file at all"
        hint = f"save the weights every epoch before printing the progress line, e.g. {_SAVE_CALL}"
    yield Problem(
        message=f"expected the weights at {want} when the progress line was read, {found}",
        hint=hint,
        path=want,
    )


@rule("OUT002", phase=Phase.PROGRESS)
def weights_load(ctx: ProgressContext) -> Iterator[Problem]:
    """The weights load with ``torch.load(weights_only=True)`` as a mapping of names to tensors."""
    rel = ctx.weights_relpath
    info = ctx.snapshot.files.get(rel)
    if info is None:
        return  # OUT001 says it is missing
    if info.is_symlink:
        target = f" to {info.link_target}" if info.link_target else ""
        yield Problem(
            message=f"expected a weights file at {rel}, found a symbolic link{target}",
            hint="write the weights themselves there; the platform uploads files, not links",
            path=rel,
        )
        return
    result = ctx.weights(rel)
    if result.ok or result.status == "unchecked":
        return
    if result.status == "unavailable":
        yield Problem(
            message=f"expected {rel} to load with torch.load(weights_only=True); the kit could not load it: "
            f"{result.error}",
            hint="a file this hard to load is usually far too large or not written by torch.save; "
            + _SAVE_WEIGHTS_HINT,
            path=rel,
        )
        return
    found = result.found or ""
    if found.startswith("pickled "):  # weights_only refused a class: usually the whole model
        hint = f"{_SAVE_WEIGHTS_HINT}; a pickled model cannot be loaded with weights_only=True"
    elif found == "a checkpoint dict":
        hint = (
            "save only the state dict (torch.save(model.state_dict(), path)); keep epoch counters and "
            "optimizer state out of the weights file"
        )
    elif found in ("nothing", "unreadable bytes"):
        hint = f"write it with torch.save and finish writing before the progress line; {_SAVE_WEIGHTS_HINT}"
    else:
        hint = _SAVE_WEIGHTS_HINT
    yield Problem(
        message=f"expected {rel} to load with torch.load(weights_only=True) as a mapping of names to "
        f"tensors, but {result.error}",
        hint=hint,
        path=rel,
    )


@rule("OUT003", phase=Phase.PROGRESS)
def weights_changed(ctx: ProgressContext) -> Iterator[Problem]:
    """The weights did not change between two epochs (same tensors as at the previous progress line)."""
    prev = ctx.previous
    if prev is None or (prev.k is not None and prev.k == ctx.snapshot.k):
        return  # no earlier epoch, or the same k printed again (PRG005)
    rel = ctx.weights_relpath
    now, before = ctx.snapshot.files.get(rel), prev.files.get(rel)
    if now is None or before is None or now.is_symlink or before.is_symlink:
        return
    same_bytes = now.digest is not None and now.digest == before.digest
    if not same_bytes:
        # Different bytes can still hold the same tensors (e.g. a fresh torch.save of an untrained model).
        a = ctx.weights(rel)
        if not a.ok:
            return
        b = ctx.weights(rel, previous=True)
        if not (b.ok and a.digest == b.digest):
            return
    # No epoch number in the message: the report merges the same finding over many epochs.
    yield Problem(
        message=f"expected the weights in {rel} to change after an epoch of training, but they hold the "
        "same tensors as at the previous progress line",
        hint="check that optimizer.step() runs, that the learning rate is not 0, and that the model "
        "saved is the one being trained (not a fresh copy or one loaded from disk)",
        path=rel,
    )


def _weights_slip_hint(ctx: ProgressContext, rel: str) -> str | None:
    """A hint for a weights file written to one of the guide's known wrong places."""
    model = ctx.model_name
    want = ctx.weights_relpath
    if rel == f"output{model}.th":
        return (
            f"a '/' is missing between the folder and the file name ({rel!r} is next to train.py): "
            f"write to {want}, e.g. os.path.join(basedir, 'output', 'files', model_name + '.th')"
        )
    if rel == f"output/{model}.th":
        return f"the weights belong in output/files/, not output/: write to {want}"
    if rel == f"{model}.th" or rel.endswith(f"/{model}.th"):
        return f"the platform uploads only output/: write the weights to {want}"
    if rel.startswith("output") and not rel.startswith("output/"):
        return f"a '/' is missing after 'output' in {rel!r}: write to {want}"
    if rel.startswith(FILES_DIR):
        return f"the file name must be model_name + '.th' ({model!r}): write to {want}"
    return None


# -- OUT004 to OUT009: the pictures -------------------------------------------------------------------


@rule("OUT004", phase=Phase.PROGRESS)
def pictures_exist(ctx: ProgressContext) -> Iterator[Problem]:
    """Every picture the task requires exists when each progress line is read."""
    paths = _all_paths(ctx)
    for rel in _required(ctx):
        if rel in ctx.snapshot.files:
            continue
        name = _name(rel)
        stem = name.rsplit(".", 1)[0].lower()
        near = [
            p for p in paths
            if p != rel and (_name(p).lower() == name.lower() or _name(p).rsplit(".", 1)[0].lower() == stem)
        ]
        if near:
            found = f"found {_listing(near)} instead"
            hint = f"write it to exactly {rel} (the platform looks for that name, in lower case as shown)"
            if any(not p.startswith(PICTURE_DIR) for p in near):
                hint = f"the platform shows only output/picture/: write it to {rel}"
            if any(p.rsplit(".", 1)[-1].lower() != "png" for p in near):
                hint += "; save it as PNG with a .png name"
        else:
            found = "found nothing there"
            hint = (
                f"write the {ctx.task.replace('_', ' ')} pictures "
                f"({', '.join(REQUIRED_PICTURES.get(ctx.task, ()))}) to {PICTURE_DIR} every epoch, "
                "before printing the progress line"
            )
        yield Problem(message=f"expected the picture {rel}, {found}", hint=hint, path=rel)


@rule("OUT005", phase=Phase.PROGRESS)
def pictures_valid(ctx: ProgressContext) -> Iterator[Problem]:
    """Each picture is a decodable PNG (signature and content), not empty."""
    for rel in _required(ctx):
        if rel not in ctx.snapshot.files:
            continue  # OUT004
        pic = ctx.picture(rel)
        if not pic.ok and not pic.too_large:
            yield Problem(
                message=f"expected {_name(rel)} to be a complete PNG picture, but it {pic.problem}",
                hint=pic.hint,
                path=rel,
            )


@rule("OUT006", phase=Phase.PROGRESS)
def pictures_same_size(ctx: ProgressContext) -> Iterator[Problem]:
    """A task's pictures share one width and height."""
    good = _good_pictures(ctx)
    sizes = {rel: pic.size for rel, pic in good.items()}
    if len(set(sizes.values())) <= 1:
        return
    counts: dict[Any, int] = {}
    for s in sizes.values():
        counts[s] = counts.get(s, 0) + 1
    # The size most pictures have is the one to match; on a tie, the first picture's (image.png, A.png).
    first = next(iter(sizes.values()))
    common = max(counts, key=lambda s: (counts[s], s == first))
    off = [rel for rel, s in sizes.items() if s != common]
    shown = ", ".join(f"{_name(rel)} {s[0]}x{s[1]}" for rel, s in sizes.items() if s is not None)
    yield Problem(
        message=f"expected {', '.join(_name(r) for r in sizes)} to share one width and height "
        f"({common[0]}x{common[1]}), got {shown}",
        hint=f"resize {', '.join(_name(r) for r in off)} to {common[0]}x{common[1]} before saving "
        "(use nearest-neighbour resampling, Image.NEAREST or cv2.INTER_NEAREST, for label and pred)",
        path=off[0] if len(off) == 1 else PICTURE_DIR,
    )


def _decode_labels(raw: str) -> Any:
    """The label text decoded with the project's parser, or JSON / a Python literal until it exists."""
    try:
        from pie_conformance.traincfg import parse_labels
    except ImportError:
        try:
            return json.loads(raw)
        except ValueError:
            return ast.literal_eval(raw.strip())
    return parse_labels(raw)


def _labels(traincfg: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The traincfg's label objects (an empty list when they cannot be read: CFG002 reports that)."""
    raw = traincfg.get("label")
    try:
        parsed = _decode_labels(raw) if isinstance(raw, str) else raw
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return []
    if not isinstance(parsed, (list, tuple)):
        return []
    return [item for item in parsed if isinstance(item, Mapping)]


def _rgb(text: Any) -> tuple[int, int, int] | None:
    """``"R,G,B"`` as a tuple of three 0-255 integers, or None."""
    try:
        parts = [int(str(p).strip()) for p in str(text).split(",")]
    except ValueError:
        return None
    if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
        return None
    return (parts[0], parts[1], parts[2])


def _palette(ctx: ProgressContext) -> list[tuple[str, int | None, tuple[int, int, int]]]:
    """(class_name, class_value, colour) of every label with a readable colour."""
    palette = []
    for lab in _labels(ctx.traincfg):
        colour = _rgb(lab.get("class_color"))
        if colour is None:
            continue
        value = lab.get("class_value")
        palette.append((str(lab.get("class_name", "?")), value if isinstance(value, int) else None, colour))
    return palette


def _fmt(c: tuple[int, int, int]) -> str:
    return f"({c[0]},{c[1]},{c[2]})"


@rule("OUT007", phase=Phase.PROGRESS, tasks=("segmentation", "change_detection"))
def picture_colours(ctx: ProgressContext) -> Iterator[Problem]:
    """Segmentation and change detection: every colour in label.png and pred.png is a label's class_color."""
    if ctx.task not in ("segmentation", "change_detection"):
        return
    palette = _palette(ctx)
    if not palette:
        return  # no readable class colours: the CFG rules report the traincfg
    allowed = tuple(sorted({c for _, _, c in palette}))
    good = _good_pictures(ctx)
    mapping = ", ".join(f"{v}->{_fmt(c)}" if v is not None else f"{n}->{_fmt(c)}" for n, v, c in palette)
    colours = ", ".join(f"{_fmt(c)} {n}" for n, _, c in palette)
    for name in ("label.png", "pred.png"):
        rel = PICTURE_DIR + name
        if rel not in good:
            continue
        census = ctx.census(rel, allowed)
        if census is None or census.clean:
            continue
        share = 100.0 * census.stray_pixels / census.pixels
        most = ", ".join(f"{_fmt(c)} x{n:,}" for c, n in census.most_common)
        distinct = f"{census.stray_distinct:,}" + ("" if census.exact else "+")
        values = {v for _, v, _ in palette if v is not None}
        index_like = set(range(len(palette)))
        greys = [c for c, _ in census.most_common if c[0] == c[1] == c[2]]
        if greys and len(greys) == len(census.most_common) and all(
            g[0] in values or g[0] in index_like for g in greys
        ):
            hint = (
                f"{name} holds class values (grey levels), not colours: paint each value with its "
                f"class_color before saving ({mapping})"
            )
        else:
            hint = (
                "colours between the class colours come from smoothing: resize label and pred with "
                "nearest-neighbour resampling (Image.NEAREST, cv2.INTER_NEAREST), never save them as JPEG, "
                f"and map each class value to its class_color ({mapping})"
            )
        yield Problem(
            message=f"expected only the labels' class colours in {name} ({colours}), got "
            f"{census.stray_pixels:,} of {census.pixels:,} pixels ({share:.1f}%) in {distinct} other "
            f"colour{'s' if census.stray_distinct != 1 else ''}, most common {most}",
            hint=hint,
            path=rel,
        )


@rule("OUT008", phase=Phase.PROGRESS)
def pictures_refreshed(ctx: ProgressContext) -> Iterator[Problem]:
    """A picture was not refreshed since the previous progress line (same content and modification time)."""
    prev = ctx.previous
    if prev is None or (prev.k is not None and prev.k == ctx.snapshot.k):
        return
    for rel in _required(ctx):
        now, before = ctx.snapshot.files.get(rel), prev.files.get(rel)
        if now is None or before is None or now.digest is None:
            continue
        # An identical picture written again (a fixed validation image) has a new mtime: that is fine.
        if now.digest == before.digest and now.mtime_ns == before.mtime_ns:
            yield Problem(
                message=f"expected {_name(rel)} to be written again for this epoch, but it is unchanged "
                "since the previous progress line (same content, same modification time)",
                hint="save the epoch's pictures every epoch, before printing the progress line",
                path=rel,
            )


@rule("OUT009", phase=Phase.PROGRESS)
def pictures_unexpected(ctx: ProgressContext) -> Iterator[Problem]:
    """Unexpected files in ``output/picture/`` (each name pattern reported when it first appears)."""
    if ctx.task not in REQUIRED_PICTURES:
        return  # without a known task nothing is expected or unexpected
    required = set(_required(ctx))
    before = {_pattern(r) for r in ctx.previous.files} if ctx.previous is not None else set()
    extra = [
        rel for rel in sorted(ctx.snapshot.files)
        if rel.startswith(PICTURE_DIR) and rel not in required and _pattern(rel) not in before
    ]
    if not extra:
        return
    names = ", ".join(_name(r) for r in sorted(required)) or "the task's pictures"
    shown = _listing([r[len(PICTURE_DIR):] for r in extra])
    yield Problem(
        message=f"expected only {names} in {PICTURE_DIR}, found {len(extra)} other "
        f"file{'s' if len(extra) != 1 else ''}: {shown}",
        hint="the platform shows only the task's pictures, overwritten each epoch; do not keep other or "
        "per-epoch pictures there (write scratch files to a tempfile.mkdtemp() folder, or not at all)",
        path=extra[0] if len(extra) == 1 else PICTURE_DIR,
    )


@rule("OUT011", phase=Phase.PROGRESS)
def pictures_past_decode_limit(ctx: ProgressContext) -> Iterator[Problem]:
    """A picture is past the kit's decode limit and was not checked further."""
    for rel in _required(ctx):
        if rel not in ctx.snapshot.files:
            continue  # OUT004
        pic = ctx.picture(rel)
        if pic.too_large:
            yield Problem(
                message=f"{_name(rel)} {pic.problem}, so the kit did not decode it and could not check its "
                "content or colours",
                hint="save the epoch's pictures at the training tile's size (load_size); the platform shows "
                "them in a browser, where a huge picture is of no use",
                path=rel,
            )


# -- OUT010: files in the wrong place -----------------------------------------------------------------


def _misplaced_inside(ctx: ProgressContext) -> list[str]:
    """Known outputs written to a wrong place inside output/ (weights outside files/, a stray trainlog)."""
    found = []
    for rel in ctx.snapshot.files:
        name = _name(rel)
        weights_at_root = rel.endswith(".th") and posixpath.dirname(rel) == "output"
        if weights_at_root or (name == "trainlog.json" and rel != TRAINLOG):
            found.append(rel)
    return sorted(found)


def _slip_hint(ctx: ProgressContext, rel: str) -> str:
    """How to fix a file written to a wrong place, naming the guide's known slips."""
    name = _name(rel)
    if rel.endswith(".th"):
        weights = _weights_slip_hint(ctx, rel)
        if weights:
            return weights
        return f"weights the platform should keep belong in {ctx.weights_relpath}; other files are lost"
    if name.endswith("trainlog.json") and rel.startswith("output") and not rel.startswith("output/"):
        return f"a '/' is missing after 'output' ({rel!r} is next to train.py): write to {TRAINLOG}"
    if name == "trainlog.json":
        return f"write the training log to {TRAINLOG}"
    if name in {p for names in REQUIRED_PICTURES.values() for p in names}:
        return f"pictures belong in {PICTURE_DIR}: write to {PICTURE_DIR}{name}"
    if rel.startswith("output") and not rel.startswith("output/"):
        return f"a '/' is missing after 'output' in {rel!r}: the platform uploads only the output/ folder"
    return (
        "the platform keeps only output/; write scratch files to a temporary folder "
        "(tempfile.mkdtemp()) or not at all"
    )


@rule("OUT010", phase=Phase.PROGRESS)
def files_outside_output(ctx: ProgressContext) -> Iterator[Problem]:
    """Files written outside ``output/`` other than aiUtils downloads, or known outputs in a wrong place."""
    prev = ctx.previous
    seen_before: set[str] = set()
    if prev is not None:
        seen_before = {_pattern(r) for r in _stray_outside(ctx, prev.outside)}
        seen_before |= {_pattern(r) for r in prev.files if r.endswith(".th") or _name(r) == "trainlog.json"}
    new_outside = [r for r in _stray_outside(ctx, ctx.snapshot.outside) if _pattern(r) not in seen_before]
    new_inside = [r for r in _misplaced_inside(ctx) if _pattern(r) not in seen_before]
    for rel in new_inside:
        want = ctx.weights_relpath if rel.endswith(".th") else TRAINLOG
        yield Problem(
            message=f"expected this file at {want}, found it at {rel} where the platform does not look",
            hint=_slip_hint(ctx, rel),
            path=rel,
        )
    for rel in new_outside:
        yield Problem(
            message=f"expected no files outside output/ other than aiUtils downloads, found {rel} "
            "(the platform keeps only output/)",
            hint=_slip_hint(ctx, rel),
            path=rel,
        )
