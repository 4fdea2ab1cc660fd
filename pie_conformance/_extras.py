"""What each part of the kit needs beyond the base install, and the message when it is missing.

``pip install pie-conformance`` brings the validators with jsonschema only; the ``[run]`` extra brings what
running, serving and drawing datasets need; torch always comes from the environment, installed the way its
user installs it (a CPU or a CUDA build), never as a requirement of the kit.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from pie_conformance.errors import KitEnvironmentError

__all__ = ["RUN_EXTRA", "MissingDependencyError", "missing_modules", "require"]

#: Importable module -> the distribution that provides it, for the ``[run]`` extra.
RUN_EXTRA: dict[str, str] = {
    "moto": "moto",
    "boto3": "boto3",
    "numpy": "numpy",
    "PIL": "Pillow",
    "hypothesis": "hypothesis",
}

_TORCH_HINT = (
    "torch is not a requirement of the kit, so that pip never replaces the build you chose: install it "
    "as you usually do, e.g. `pip install torch` (CUDA build) or "
    "`pip install torch --index-url https://download.pytorch.org/whl/cpu` (CPU only)"
)


class MissingDependencyError(KitEnvironmentError):
    """A module a command or fixture needs is not installed; the message says what to install (exit 2)."""


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The modules among ``modules`` that cannot be imported here (checked without importing them)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def require(what: str, *, run_extra: bool = False, torch: bool = False, modules: Iterable[str] = ()) -> None:
    """Raise :class:`MissingDependencyError` naming the install command when ``what`` cannot work here.

    ``run_extra``: every module of the ``[run]`` extra; ``modules``: only these of them; ``torch``: torch too.
    """
    wanted = list(RUN_EXTRA) if run_extra else list(modules)
    gone = missing_modules(wanted)
    if gone:
        names = ", ".join(RUN_EXTRA.get(m, m) for m in gone)
        raise MissingDependencyError(
            f"{what} needs the kit's [run] extra ({names} missing): pip install 'pie-conformance[run]'"
        )
    if torch and missing_modules(["torch"]):
        raise MissingDependencyError(f"{what} needs torch, which is not installed here; {_TORCH_HINT}")
