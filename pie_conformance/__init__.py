"""pie-conformance: check PIE-Engine AI training scripts, configs and logs against the platform contract."""

from __future__ import annotations

from typing import Any

from pie_conformance.findings import Finding, Problem, Report, ScenarioResult, Severity

__version__ = "0.1.0"

__all__ = [
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

# Public functions whose modules are imported on first use, so `import pie_conformance` stays light.
_LAZY: dict[str, str] = {
    "check_script": "pie_conformance.harness.check",
    "validate_traincfg": "pie_conformance.validate",
    "validate_trainlog": "pie_conformance.validate",
}


def __getattr__(name: str) -> Any:
    """Import a lazily re-exported function on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pie_conformance' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
