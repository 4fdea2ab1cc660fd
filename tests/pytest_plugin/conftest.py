"""Shared set-up of the plugin tests (``pytester`` itself is requested by each module's ``pytest_plugins``:
pytest refuses ``pytest_plugins`` in a conftest below the rootdir)."""

from __future__ import annotations

import importlib

import pytest

# Modules with C extensions that the kit imports while an in-process pytester run is going on. pytester
# forgets every module first imported during such a run, and an extension module cannot be loaded twice in
# one process, so they are imported here, once, before any inner run starts.
_PRELOAD = ("numpy", "PIL.Image", "PIL.PngImagePlugin", "boto3", "botocore.session", "torch")


@pytest.fixture(scope="session", autouse=True)
def _preload_extension_modules() -> None:
    for name in _PRELOAD:
        importlib.import_module(name)
