"""The mock's object size limit: bodies past it are refused with EntityTooLarge and never held in memory."""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from pie_conformance.errors import UsageError
from pie_conformance.s3 import BUCKET, MockS3Server, S3Request, make_client
from pie_conformance.s3._server import DEFAULT_MAX_OBJECT_SIZE, MAX_OBJECT_SIZE_ENV, parse_size

MIB = 1024 * 1024
SIGNED = (
    "AWS4-HMAC-SHA256 Credential=kit/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"
)


@pytest.fixture(scope="module")
def _small_process() -> Iterator[MockS3Server]:
    with MockS3Server(max_object_size=MIB) as server:
        yield server


@pytest.fixture
def small(_small_process: MockS3Server) -> MockS3Server:
    """A server that takes objects of 1 MiB at most, empty but for the bucket."""
    _small_process.reset()
    make_client(_small_process.endpoint_url, "k", "s").create_bucket(Bucket=BUCKET)
    return _small_process


def _raw_put(
    server: MockS3Server, conn: http.client.HTTPConnection, key: str, body: object, **kw: object
) -> tuple[int, bytes]:
    """PUT through a raw connection (no Expect header: the body is sent whatever the answer will be)."""
    conn.request("PUT", f"/{BUCKET}/{key}", body=body, headers={"Authorization": SIGNED}, **kw)  # type: ignore[arg-type]
    response = conn.getresponse()
    return response.status, response.read()


def test_boto3_gets_entity_too_large_and_the_server_stays_up(small: MockS3Server) -> None:
    s3 = make_client(small.endpoint_url, "k", "s")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=BUCKET, Key="big", Body=b"x" * (3 * MIB))
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "EntityTooLarge"
    assert (error["ProposedSize"], error["MaxSizeAllowed"]) == (str(3 * MIB), str(MIB))
    assert small.running
    s3.put_object(Bucket=BUCKET, Key="fits", Body=b"y" * MIB)  # exactly the limit is fine
    assert s3.get_object(Bucket=BUCKET, Key="fits")["Body"].read() == b"y" * MIB
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="big")
    puts = [r for r in small.requests() if r.op == "PUT"]
    assert puts == [S3Request("PUT", BUCKET, "big", 3 * MIB, 400), S3Request("PUT", BUCKET, "fits", MIB, 200)]
    assert puts[0].is_write and not puts[0].ok  # a refused write is still an attempt to write


def test_a_body_sent_without_expect_is_read_away_and_the_connection_kept(small: MockS3Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", small.port, timeout=60)
    try:
        status, body = _raw_put(small, conn, "raw", b"z" * (3 * MIB))
        assert status == 400 and b"<Code>EntityTooLarge</Code>" in body
        assert _raw_put(small, conn, "after", b"ok") == (200, b"")  # the same connection goes on
    finally:
        conn.close()


def test_a_chunked_body_is_refused_once_past_the_limit(small: MockS3Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", small.port, timeout=60)
    try:
        pieces = (b"c" * (256 * 1024) for _ in range(12))  # 3 MiB, length not announced
        status, body = _raw_put(small, conn, "chunked", pieces, encode_chunked=True)
        assert status == 400 and b"<Code>EntityTooLarge</Code>" in body
        small_pieces = iter([b"a" * 1000, b"b" * 1000])
        assert _raw_put(small, conn, "chunked-ok", small_pieces, encode_chunked=True)[0] == 200
    finally:
        conn.close()
    s3 = make_client(small.endpoint_url, "k", "s")
    assert s3.get_object(Bucket=BUCKET, Key="chunked-ok")["Body"].read() == b"a" * 1000 + b"b" * 1000


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_refused_body_never_reaches_memory(small: MockS3Server, chunked: bool) -> None:
    size = 96 * MIB
    # The peak resident memory (ru_maxrss) of the serving process only ever grows: if the refused body were
    # held whole (as bytes, or twice: bytes and a copy), the peak would grow by the body's size or more.
    make_client(small.endpoint_url, "k", "s").put_object(Bucket=BUCKET, Key="warm", Body=b"w" * MIB)
    before = small.stats()["max_rss_bytes"]
    conn = http.client.HTTPConnection("127.0.0.1", small.port, timeout=120)
    try:
        block = b"m" * MIB
        if chunked:
            pieces = (block for _ in range(size // MIB))
            status, body = _raw_put(small, conn, "huge", pieces, encode_chunked=True)
        else:
            status, body = _raw_put_sized(conn, size, block)
    finally:
        conn.close()
    assert status == 400 and b"EntityTooLarge" in body
    stats = small.stats()
    assert stats["refused"] >= 1
    assert stats["max_rss_bytes"] - before < size // 8, (before, stats["max_rss_bytes"])


def _raw_put_sized(conn: http.client.HTTPConnection, size: int, block: bytes) -> tuple[int, bytes]:
    """PUT ``size`` bytes with a Content-Length and no Expect header: the body comes whatever the answer."""
    conn.putrequest("PUT", f"/{BUCKET}/huge")
    conn.putheader("Authorization", SIGNED)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for _ in range(size // len(block)):
        conn.send(block)
    response = conn.getresponse()
    return response.status, response.read()


def test_a_body_under_the_limit_is_spooled_and_stored_whole(server: MockS3Server) -> None:
    s3 = make_client(server.endpoint_url, "k", "s")
    s3.create_bucket(Bucket=BUCKET)
    data = bytes(range(256)) * (12 * MIB // 256 + 7)  # past the few MiB kept in memory: goes through a file
    s3.put_object(Bucket=BUCKET, Key="spooled", Body=data)
    assert s3.get_object(Bucket=BUCKET, Key="spooled")["Body"].read() == data
    assert server.stats()["max_object_size"] == DEFAULT_MAX_OBJECT_SIZE


def test_a_malformed_length_is_a_bad_request(small: MockS3Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", small.port, timeout=30)
    try:
        conn.putrequest("PUT", f"/{BUCKET}/bad")
        conn.putheader("Content-Length", "lots")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 400 and b"<Code>BadRequest</Code>" in response.read()
    finally:
        conn.close()
    assert small.running


def test_the_in_process_variant_refuses_too() -> None:
    with MockS3Server(in_process=True, max_object_size=MIB) as local:
        s3 = make_client(local.endpoint_url, "k", "s")
        s3.create_bucket(Bucket=BUCKET)
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket=BUCKET, Key="big", Body=b"x" * (MIB + 1))
        assert caught.value.response["Error"]["Code"] == "EntityTooLarge"
        s3.put_object(Bucket=BUCKET, Key="fits", Body=b"x" * MIB)
        assert [r.status for r in local.requests() if r.op == "PUT"] == [400, 200]
        assert local.stats()["refused"] == 1


@given(
    number=st.integers(min_value=1, max_value=4096),
    unit=st.sampled_from(
        [("", 1), ("b", 1), ("K", 1024), ("KiB", 1024), ("kb", 1024), ("M", MIB), ("MiB", MIB),
         ("G", 1 << 30), ("GiB", 1 << 30), ("T", 1 << 40)]
    ),
    space=st.sampled_from(["", " "]),
)
def test_sizes_read_with_their_unit(number: int, unit: tuple[str, int], space: str) -> None:
    assert parse_size(f"{number}{space}{unit[0]}") == number * unit[1]


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5GiB", "lots", "1 PiB", "GiB"])
def test_bad_sizes_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)


def test_the_limit_comes_from_the_argument_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_OBJECT_SIZE_ENV, raising=False)
    assert MockS3Server().max_object_size == DEFAULT_MAX_OBJECT_SIZE == 1 << 30
    monkeypatch.setenv(MAX_OBJECT_SIZE_ENV, "2MiB")
    assert MockS3Server().max_object_size == 2 * MIB
    assert MockS3Server(max_object_size=5).max_object_size == 5
    monkeypatch.setenv(MAX_OBJECT_SIZE_ENV, "big")
    with pytest.raises(UsageError, match=MAX_OBJECT_SIZE_ENV):
        MockS3Server()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_object_size"):
            MockS3Server(max_object_size=bad)  # type: ignore[arg-type]


def test_the_server_command_refuses_a_bad_size() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pie_conformance.s3._server", "--max-object-size", "lots"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "--max-object-size" in done.stderr and "expected a size" in done.stderr
