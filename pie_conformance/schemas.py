"""The JSON Schemas of the contract, shipped in the package and loadable by name."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pie_conformance.errors import UsageError

__all__ = ["load_schema", "schema_names", "schema_text"]

_SUFFIX = ".schema.json"


def _folder() -> Any:
    # A copy of the top-level schemas/ (tools/sync_package_data.py), so a wheel and a checkout read the same.
    return resources.files("pie_conformance").joinpath("_schemas")


def schema_names() -> list[str]:
    """The names of the shipped schemas, sorted (e.g. ``["trainlog", "traincfg"]``)."""
    return sorted(
        entry.name[: -len(_SUFFIX)] for entry in _folder().iterdir() if entry.name.endswith(_SUFFIX)
    )


def schema_text(name: str) -> str:
    """The schema ``name`` as the text of its file (UsageError naming the known schemas otherwise)."""
    if name not in schema_names():
        raise UsageError(f"no schema named {name!r}; expected one of: {', '.join(schema_names())}")
    return _folder().joinpath(name + _SUFFIX).read_text(encoding="utf-8")


@cache
def _load(name: str) -> str:
    return schema_text(name)


def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (``"traincfg"`` or ``"trainlog"``) as a fresh dict."""
    # Parsed anew each call from cached text, so a caller that mutates its copy harms no one else.
    return dict(json.loads(_load(name)))
