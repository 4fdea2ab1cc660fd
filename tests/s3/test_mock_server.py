"""The mock S3: what it records, its read cache, reset, isolation between servers, and its lifecycle."""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from pie_conformance.s3 import BUCKET, MockS3Server, S3Request, make_client


@pytest.fixture(params=["process", "in_process"])
def any_server(request: pytest.FixtureRequest, server: MockS3Server) -> Iterator[MockS3Server]:
    """The shared child-process server, then the in-process (mock_aws) variant: one interface."""
    if request.param == "process":
        yield server
    else:
        with MockS3Server(in_process=True) as local:
            yield local


def _client(server: MockS3Server):  # noqa: ANN202 - a boto3 client
    return make_client(server.endpoint_url, "k", "s")


def test_records_every_operation_with_key_bytes_and_status(any_server: MockS3Server) -> None:
    s3 = _client(any_server)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="d/train/a.png", Body=b"x" * 1000)
    s3.put_object(Bucket=BUCKET, Key="d/valid/b.png", Body=b"y" * 10)
    assert s3.get_object(Bucket=BUCKET, Key="d/train/a.png")["Body"].read() == b"x" * 1000
    s3.head_object(Bucket=BUCKET, Key="d/valid/b.png")
    s3.list_objects_v2(Bucket=BUCKET, Prefix="d/")
    with pytest.raises(ClientError):
        s3.get_object(Bucket=BUCKET, Key="d/missing.png")
    s3.delete_object(Bucket=BUCKET, Key="d/valid/b.png")
    s3.put_object(Bucket=BUCKET, Key="d/c.png", Body=b"z")
    s3.put_object(Bucket=BUCKET, Key="d/e f.png", Body=b"z")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "d/c.png"}, {"Key": "d/e f.png"}]})
    got = any_server.requests()
    assert [r for r in got if r.key] == [
        S3Request("PUT", BUCKET, "d/train/a.png", 1000, 200),
        S3Request("PUT", BUCKET, "d/valid/b.png", 10, 200),
        S3Request("GET", BUCKET, "d/train/a.png", 1000, 200),
        S3Request("HEAD", BUCKET, "d/valid/b.png", 0, 200),
        S3Request("GET", BUCKET, "d/missing.png", got[6].bytes, 404),
        S3Request("DELETE", BUCKET, "d/valid/b.png", 0, 204),
        S3Request("PUT", BUCKET, "d/c.png", 1, 200),
        S3Request("PUT", BUCKET, "d/e f.png", 1, 200),
        S3Request("DELETE", BUCKET, "d/c.png", 0, 200),
        S3Request("DELETE", BUCKET, "d/e f.png", 0, 200),
    ]
    assert [r.op for r in got if not r.key] == ["CREATE_BUCKET", "LIST"]
    assert [r.is_write for r in got[:3]] == [True, True, True]
    assert not got[3].is_write and got[3].ok and not got[6].ok
    assert any_server.requests(since=9) == got[9:]
    any_server.clear_requests()
    assert any_server.requests() == []


def test_reset_empties_buckets_and_the_log(any_server: MockS3Server) -> None:
    s3 = _client(any_server)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    any_server.reset()
    assert any_server.requests() == []
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=BUCKET)


def test_a_write_throws_the_cached_read_away(server: MockS3Server) -> None:
    s3 = _client(server)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="w.th", Body=b"old")
    for _ in range(3):  # the second and third read come from the cache
        assert s3.get_object(Bucket=BUCKET, Key="w.th")["Body"].read() == b"old"
    s3.put_object(Bucket=BUCKET, Key="w.th", Body=b"newer")
    assert s3.get_object(Bucket=BUCKET, Key="w.th")["Body"].read() == b"newer"
    assert s3.head_object(Bucket=BUCKET, Key="w.th")["ContentLength"] == 5
    s3.delete_object(Bucket=BUCKET, Key="w.th")
    with pytest.raises(ClientError):
        s3.get_object(Bucket=BUCKET, Key="w.th")
    assert [r.op for r in server.requests()].count("GET") == 5  # cached reads are recorded too


def test_range_reads_get_their_range_not_the_memoised_whole(server: MockS3Server) -> None:
    s3 = _client(server)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="r", Body=b"0123456789")
    assert s3.get_object(Bucket=BUCKET, Key="r")["Body"].read() == b"0123456789"
    assert s3.get_object(Bucket=BUCKET, Key="r", Range="bytes=2-4")["Body"].read() == b"234"


def test_several_servers_at_once_are_separate_and_stop_cleanly(server: MockS3Server) -> None:
    other = MockS3Server().start()
    process = other._process
    assert other.running and process is not None
    assert other.endpoint_url != server.endpoint_url
    a, b = _client(server), _client(other)
    a.create_bucket(Bucket=BUCKET)
    b.create_bucket(Bucket=BUCKET)
    a.put_object(Bucket=BUCKET, Key="only-in-a", Body=b"1")
    assert b.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert [r.key for r in other.requests() if r.key] == []
    other.reset()
    assert a.get_object(Bucket=BUCKET, Key="only-in-a")["Body"].read() == b"1"
    other.stop()
    other.stop()  # idempotent
    assert process.poll() is not None and not other.running
    with pytest.raises(RuntimeError, match="not started"):
        other.endpoint_url  # noqa: B018 - the property raises


def test_control_needs_the_token(server: MockS3Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/_pie/reset")
    response = conn.getresponse()
    assert response.status == 403
    response.read()
    conn.close()


def test_the_server_leaves_when_its_parent_closes_stdin() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pie_conformance.s3._server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().startswith(b"READY ")
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    proc.stdout.close()


def test_one_in_process_mock_at_a_time() -> None:
    with MockS3Server(in_process=True), pytest.raises(RuntimeError, match="only one in-process"):
        MockS3Server(in_process=True).start()
    with MockS3Server(in_process=True) as again:
        assert again.running


def test_only_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        MockS3Server(host="0.0.0.0")
