"""Strict JSON reading shared by the validators: size limit, strict constants, no recursion tracebacks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pie_conformance.errors import UsageError

#: Files larger than this are refused before they are read whole.
MAX_BYTES = 64 * 1024 * 1024


class StrictJSONError(ValueError):
    """The text is not strict JSON; ``str(err)`` says why and where in plain words."""


def _reject_constant(name: str) -> Any:
    # json accepts NaN, Infinity and -Infinity by default; the contract's JSON is strict.
    raise StrictJSONError(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


#: A decoder that refuses NaN/Infinity; its raw_decode is the C scanner, fast on large inputs.
STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def describe_decode_error(exc: json.JSONDecodeError) -> str:
    """A JSONDecodeError as one plain sentence with line and column."""
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"


def strict_loads(data: bytes | str) -> Any:
    """Parse strict UTF-8 JSON; StrictJSONError (a ValueError) with a plain message otherwise."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJSONError(f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        raise StrictJSONError("starts with a byte order mark (write the file as UTF-8 without BOM)")
    try:
        return STRICT_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise StrictJSONError(describe_decode_error(exc)) from None
    except StrictJSONError:
        raise
    except ValueError as exc:  # e.g. an integer over Python's 4300-digit conversion limit
        raise StrictJSONError(f"a value cannot be read ({exc})") from None
    except RecursionError:
        raise StrictJSONError("nested too deeply to read") from None


def read_file(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of ``path``, refusing a missing, unreadable or oversized file with a UsageError."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise UsageError(f"{what} {p} is a directory, not a file")
        # A pipe (e.g. <(cat file)) has no size: the bounded read below still refuses an endless one.
        if p.is_file() and size > MAX_BYTES:
            raise UsageError(
                f"{what} {p} is {size} bytes, over the limit of {MAX_BYTES} bytes; it is not read"
            )
        with p.open("rb") as fh:
            # Read one byte past the limit so a file that grows while being read is still refused.
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} {p} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"{what} {p} is over the limit of {MAX_BYTES} bytes; it is not read")
    return data
