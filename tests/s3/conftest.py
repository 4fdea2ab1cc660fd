"""One mock S3 server (a child process) shared by the tests of this folder; each test gets it reset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pie_conformance.s3 import MockS3Server


@pytest.fixture(scope="session")
def _server_process() -> Iterator[MockS3Server]:
    with MockS3Server() as server:
        yield server


@pytest.fixture
def server(_server_process: MockS3Server) -> MockS3Server:
    """The shared server, empty (no bucket, no recorded request)."""
    _server_process.reset()
    return _server_process
