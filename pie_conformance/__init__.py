"""pie-conformance: check PIE-Engine AI training scripts, configs and logs against the platform contract.

The public API: :func:`check_script` with its :class:`CheckOptions`, :func:`validate_traincfg`,
:func:`validate_trainlog`, and the report types. The functions are imported on first use, so that
``import pie_conformance`` stays light; type checkers see them as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pie_conformance.findings import Finding, Problem, Report, ScenarioResult, Severity

if TYPE_CHECKING:
    from pie_conformance.harness.check import check_script
    from pie_conformance.harness.options import CheckOptions
    from pie_conformance.validate import validate_traincfg, validate_trainlog

__version__ = "0.1.0"

__all__ = [
    "CheckOptions",
    "Finding",
    "Problem",
    "Report",
    "ScenarioResult",
    "Severity",
    "__version__",
    "check_script",
    "validate_traincfg",
    "validate_trainlog",
]

# Public names whose modules are imported on first use.
_LAZY: dict[str, str] = {
    "check_script": "pie_conformance.harness.check",
    "CheckOptions": "pie_conformance.harness.options",
    "validate_traincfg": "pie_conformance.validate",
    "validate_trainlog": "pie_conformance.validate",
}


def __getattr__(name: str) -> Any:
    """Import a lazily re-exported name on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pie_conformance' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
