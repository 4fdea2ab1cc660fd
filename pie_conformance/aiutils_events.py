"""Quirk events of the compatible ``aiUtils``: calls whose answer a quirk of the platform's module changed.

The compatible module answers as the platform's does, quirks included. When the environment variable
``PIE_AIUTILS_EVENTS`` names a file, each such call appends one JSON object on one line::

    {"call": "getImages", "quirk": "case-sensitive-extension", "detail": "left out 2 key(s) ...",
     "args": ["devel/.../train/images/", false]}

``read_events(path)`` reads them back for the harness (rule RUN008), tolerating whatever else the file holds.
This module imports only the standard library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["EVENTS_VAR", "QUIRK_HINTS", "AiUtilsEvent", "parse_event_line", "read_events"]

#: The variable that names the events file in the script's environment (the shim spells it too).
EVENTS_VAR = "PIE_AIUTILS_EVENTS"

#: Quirk id -> what the platform's module does and what to write instead (the shim's QUIRKS, in that order).
QUIRK_HINTS: Mapping[str, str] = MappingProxyType({
    "reversed-arguments": (
        "downS3Weight takes the local path FIRST and the S3 key second; with the arguments reversed (as the "
        "guide's bullet list shows them) the platform finds no object and returns False, so nothing is loaded"
    ),
    "case-sensitive-extension": (
        "getImages keeps a key only when '.jpg', '.tif', '.tiff', '.png', '.TIF' or '.bmp' occurs in it, "
        "case-sensitively: '.jpeg', '.JPG' and '.PNG' files are left out; list them with getFileList and "
        "filter the extensions yourself"
    ),
    "substring-extension": (
        "getImages tests substrings, so keys such as 'x.png.aux.xml' or 'a.png.bak' come back as images; "
        "filter the keys on their ending before decoding them"
    ),
    "xml-keeps-every-key": (
        "getImages(..., is_xml=True) keeps every key under the prefix (the platform's test is always true); "
        "filter the keys on '.xml' and the image extensions yourself"
    ),
    "file-into-folder": (
        "pullImage(path, key) treats path as a FOLDER and puts the file in it; pass the folder and read "
        "<folder>/<file name>"
    ),
    "missing-returns-false": (
        "pullImage stops and returns False when an object is missing (a folder key needs its trailing '/'); "
        "check the key, and the files, before training"
    ),
    "download-error-ignored": (
        "pullImage ignores a download that fails (the platform never looks at its threads' errors); check "
        "that every file arrived"
    ),
    "flattened-path": (
        "pullImage computes each local folder from the key's text: a file whose name contains its split's "
        "folder name (e.g. 'train_1.png' under train/) lands elsewhere; find the files by name, not by path"
    ),
    "sibling-prefix": (
        "pullImage lists 'train' and 'valid' without a trailing '/', so folders such as 'trainval/' beside "
        "them are downloaded too"
    ),
    "empty-size-none": "getObjectSize returns None, not 0, for an empty object",
})

#: Files larger than this are read only this far; events beyond it are ignored.
MAX_BYTES = 4 * 1024 * 1024
#: At most this many distinct events are returned.
MAX_EVENTS = 1000

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class AiUtilsEvent:
    """One call of the compatible aiUtils whose answer a quirk of the platform's module changed."""

    call: str  # the method, e.g. "downS3Weight"
    quirk: str  # a QUIRK_HINTS id, e.g. "reversed-arguments"
    detail: str  # what happened in this call, in words
    args: tuple[Scalar, ...] = ()  # the call's arguments (non-JSON values as their repr)

    @property
    def hint(self) -> str:
        """What the platform's module does here and what to write instead ("" for an unknown quirk)."""
        return QUIRK_HINTS.get(self.quirk, "")


def _scalar(value: object) -> Scalar:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False)


def parse_event_line(line: str) -> AiUtilsEvent | None:
    """The event on one line of an events file, or None when the line is not one."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    call, quirk, detail = obj.get("call"), obj.get("quirk"), obj.get("detail", "")
    if not isinstance(call, str) or not call or not isinstance(quirk, str) or not quirk:
        return None
    args = obj.get("args", [])
    return AiUtilsEvent(
        call=call,
        quirk=quirk,
        detail=detail if isinstance(detail, str) else "",
        args=tuple(_scalar(a) for a in args) if isinstance(args, list) else (),
    )


def read_events(path: str | os.PathLike[str]) -> tuple[AiUtilsEvent, ...]:
    """The events in the file, in the order written, each once; a missing or unreadable file gives ().

    Lines that are not events (junk, a line cut short by a killed process, other JSON) are skipped.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES)
    except OSError:
        return ()
    seen: dict[AiUtilsEvent, None] = {}
    # Only "\n" ends a line: the shim writes details as they are, and they may hold U+2028 or U+0085.
    for raw in data.decode("utf-8", "replace").split("\n"):
        event = parse_event_line(raw) if raw.strip() else None
        if event is not None and event not in seen:
            seen[event] = None
            if len(seen) >= MAX_EVENTS:
                break
    return tuple(seen)
