"""Shared set-up of the plugin tests (``pytester`` itself is requested by each module's ``pytest_plugins``:
pytest refuses ``pytest_plugins`` in a conftest below the rootdir)."""

from __future__ import annotations

import importlib

import pytest

# Modules that the kit imports while an in-process pytester run is going on. pytester forgets every module
# first imported during such a run; importing one again then fails: an extension module cannot be loaded
# twice in one process, and a rule module would register its rule IDs a second time in the registry (which
# is kept). So they are all imported here, once, before any inner run starts.
_PRELOAD = (
    "numpy",
    "PIL.Image",
    "PIL.PngImagePlugin",
    "boto3",
    "botocore.session",
    "torch",
    "pie_conformance.harness.check",
    "pie_conformance.datasets",
    "pie_conformance.s3",
    "pie_conformance._pytest_fixtures",
)


@pytest.fixture(scope="session", autouse=True)
def _preload_modules() -> None:
    for name in _PRELOAD:
        importlib.import_module(name)
    from pie_conformance.rules import all_rules

    all_rules()  # imports every rule family module
