"""Under pytest-xdist (``-n 2``) each worker has its own mock S3 server and port, and its own script run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFORMANT = Path(__file__).resolve().parents[1] / "cases" / "conformant"

CONFTEST = """
import json
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _record_worker_server(_pie_s3_session):
    # Every worker writes down the endpoint of the server it got (the session fixture of the plugin).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    with open(f"endpoint-{worker}.json", "w") as f:
        json.dump({"worker": worker, "endpoint": _pie_s3_session.endpoint_url, "pid": os.getpid()}, f)
"""

USER_TESTS = """
import pytest


@pytest.mark.parametrize("n", range(6))
@pytest.mark.pie(task="change_detection", images=1, size=(16, 16))
def test_dataset_in_this_workers_mock(n, pie_s3, pie_dataset, pie_aiutils):
    ds = pie_dataset(seed=n)
    from aiUtils import aiUtils

    client = aiUtils.s3GetImg()
    assert client.path == ds.path
    assert client.getImages("/".join(ds.path.split("/")[3:]) + "train/A")
    # pie_s3 was emptied before this test: only this test's dataset is in the worker's mock.
    assert {r.key.split("/")[4] for r in pie_s3.requests() if r.op == "PUT" and r.key} == {ds.dataset_id}
"""


def test_the_suite_passes_with_two_workers_each_with_its_own_server(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_user=USER_TESTS)
    script = str(CONFORMANT / "detection")
    result = pytester.runpytest(
        "-p", "xdist", "-n", "2", "-p", "no:cacheprovider",
        "--pie-script", script, "--pie-task", "detection", "--pie-scenario", "baseline",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 6 + 20
    records = [json.loads(p.read_text()) for p in pytester.path.glob("endpoint-gw*.json")]
    assert sorted(r["worker"] for r in records) == ["gw0", "gw1"]
    assert len({r["endpoint"] for r in records}) == 2  # two servers, two ports
    assert len({r["pid"] for r in records}) == 2
