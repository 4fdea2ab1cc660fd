"""The pytest plugin of pie-conformance (entry point ``pytest11: pie``).

- ``--pie-script train.py --pie-task T`` collects one test item per rule and scenario of the script
  (``train.py::baseline::PRG003``), all judged on a single run of the script through the harness.
- Fixtures for a team's own tests: ``pie_s3`` (a mock S3 server for the session, emptied before each test),
  ``pie_dataset`` (a factory of synthetic datasets in that mock), ``pie_aiutils`` (``from aiUtils import
  aiUtils`` works in the test process) and ``pie_run`` (check a script, get the report).
- ``@pytest.mark.pie(task=..., images=..., epochs=...)`` configures those fixtures for one test.

This module is imported by every pytest run of an environment where the kit is installed, so it imports
nothing heavy (no torch, moto, boto3, numpy, PIL, jsonschema): those are imported inside fixtures and hooks.
It loads with the base install alone; a fixture or ``--pie-script`` that needs the ``[run]`` extra or torch
says so, with the install command, when it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pie_conformance._pytest_items import PieConformanceWarning, collect_scripts
from pie_conformance._pytest_options import (
    MARKER_LINE,
    OptionValueError,
    PieSettings,
    add_options,
    check_marker_kwargs,
    read_settings,
)

if TYPE_CHECKING:
    from pie_conformance._pytest_fixtures import DatasetRegistry, PieAiUtils, PieDataset
    from pie_conformance._pytest_items import PieScript
    from pie_conformance.findings import Report
    from pie_conformance.s3 import MockS3Server

__all__ = ["PieConformanceWarning", "pie_aiutils", "pie_dataset", "pie_run", "pie_s3"]

_SETTINGS = pytest.StashKey[PieSettings]()
_SCRIPTS = pytest.StashKey[list["PieScript"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``pie`` option group and the ini twins of its options."""
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``pie`` marker and check every ``pie`` option (a bad value is a usage error)."""
    config.addinivalue_line("markers", MARKER_LINE)
    settings = config.stash[_SETTINGS] = read_settings(config)
    if settings.scripts:
        from pie_conformance._extras import MissingDependencyError, require

        try:
            require("--pie-script", run_extra=True, torch=True)
        except MissingDependencyError as exc:
            raise pytest.UsageError(str(exc)) from None


def _need(what: str, *, torch: bool = False) -> None:
    # A fixture used without the [run] extra (or torch) fails its test with the install command.
    from pie_conformance._extras import MissingDependencyError, require

    try:
        require(what, run_extra=True, torch=torch)
    except MissingDependencyError as exc:
        message = str(exc)
    else:
        return
    pytest.fail(message, pytrace=False)


def settings_of(config: pytest.Config) -> PieSettings:
    """The checked ``pie`` options of this pytest run."""
    return config.stash.get(_SETTINGS, PieSettings())


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """Say which scripts are checked, and how, at the top of the run."""
    settings = settings_of(config)
    if not settings.scripts:
        return None
    from pie_conformance import __version__

    how = [f"task {settings.task}"]
    how += [f"epochs {settings.epochs}"] if settings.epochs else []
    how += [f"gpu_num {settings.gpu_num}"] if settings.gpu_num is not None else []
    how += ["failing on warnings"] if settings.fail_on_warning else []
    return [f"pie-conformance {__version__}: checking {len(settings.scripts)} script(s), {', '.join(how)}"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the items of every ``--pie-script`` (first, so that ``-k`` and ``--deselect`` see them)."""
    settings = settings_of(config)
    if settings.scripts:
        items.extend(collect_scripts(session, settings, config.stash.setdefault(_SCRIPTS, [])))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Show any finding of a checked script that no test item reported, so that none goes unseen."""
    from pie_conformance._pytest_items import format_findings

    for node in config.stash.get(_SCRIPTS, []):
        lost = node.unclaimed()
        if lost:
            terminalreporter.write_sep("=", f"pie-conformance: findings of {node.nodeid} without a test item")
            terminalreporter.write_line(format_findings(lost))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse a ``@pytest.mark.pie`` with an unknown argument or a bad value before any fixture runs."""
    for mark in item.iter_markers("pie"):
        try:
            check_marker_kwargs(mark.args, mark.kwargs, item.nodeid)
        except OptionValueError as exc:
            pytest.fail(str(exc), pytrace=False)


def _config_of(request: pytest.FixtureRequest) -> dict[str, Any]:
    from pie_conformance._pytest_fixtures import merged_config

    try:
        return merged_config(request.node, settings_of(request.config))
    except OptionValueError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def _pie_s3_session() -> Iterator[MockS3Server]:
    """One mock S3 server per test session (per xdist worker), on 127.0.0.1 and a free port."""
    _need("the pie_s3 fixture (used by pie_dataset and pie_aiutils)")
    from pie_conformance.s3 import MockS3Server

    with MockS3Server() as server:
        yield server


@pytest.fixture
def pie_s3(_pie_s3_session: MockS3Server) -> MockS3Server:
    """The session's mock S3 server, emptied (buckets and request log) before this test."""
    _pie_s3_session.reset()
    return _pie_s3_session


@pytest.fixture
def _pie_registry() -> DatasetRegistry:
    """The datasets made by ``pie_dataset`` in this test, in order (shared with ``pie_aiutils``)."""
    from pie_conformance._pytest_fixtures import DatasetRegistry

    return DatasetRegistry()


@pytest.fixture
def pie_dataset(
    request: pytest.FixtureRequest, pie_s3: MockS3Server, _pie_registry: DatasetRegistry
) -> Iterator[Callable[..., PieDataset]]:
    """A factory: ``pie_dataset(task=, images=, size=, classes=, format=)`` -> a dataset in ``pie_s3``.

    At teardown the datasets must be as they were made: the platform's datasets are read-only to a
    training script (RUN004). ``@pytest.mark.pie(readonly=False)`` lifts this for tests that write.
    """
    from pie_conformance._pytest_fixtures import DatasetFactory

    factory = DatasetFactory(pie_s3, _config_of(request), _pie_registry)
    yield factory
    if factory.readonly:
        changed = factory.changes()
        if changed:
            pytest.fail(
                "expected the test to leave its datasets unchanged (a training script only reads its "
                "dataset, RUN004), got:\n  " + "\n  ".join(changed) + "\n"
                "hint: write outputs under output/ in the working directory, not into the dataset; a test "
                "that means to write there can say @pytest.mark.pie(readonly=False)",
                pytrace=False,
            )


@pytest.fixture
def pie_aiutils(
    request: pytest.FixtureRequest, pie_s3: MockS3Server, _pie_registry: DatasetRegistry
) -> Iterator[PieAiUtils]:
    """Make ``from aiUtils import aiUtils`` work in this process, reading the datasets of ``pie_dataset``."""
    from pie_conformance._pytest_fixtures import PieAiUtils

    # A MonkeyPatch of its own: a test calling monkeypatch.undo() must not take the shim away mid-test.
    patch = pytest.MonkeyPatch()
    shim = PieAiUtils(pie_s3, _pie_registry, patch)
    try:
        shim.install()
        yield shim
    finally:
        shim.uninstall()
        patch.undo()


@pytest.fixture
def pie_run(request: pytest.FixtureRequest) -> Callable[..., Report]:
    """``pie_run(path, **options)``: check a train.py through the harness and return the report."""
    _need("the pie_run fixture", torch=True)
    from pie_conformance._pytest_fixtures import ScriptRunner

    return ScriptRunner(_config_of(request))
