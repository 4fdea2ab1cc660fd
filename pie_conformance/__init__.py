"""pie-conformance: check PIE-Engine AI training scripts, configs and logs against the platform contract."""

from __future__ import annotations

from pie_conformance.findings import Finding, Problem, Report, ScenarioResult, Severity

__version__ = "0.1.0"

__all__ = ["Finding", "Problem", "Report", "ScenarioResult", "Severity", "__version__"]
