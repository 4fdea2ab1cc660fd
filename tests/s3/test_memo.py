"""The mock's read memo answers what moto answers: a server with it and one without agree on every read.

Reads go over raw HTTP so that the Host header (virtual-host addressing), Range and the conditional headers
are chosen here, as a script's own client could send them.
"""

from __future__ import annotations

import hashlib
import http.client
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_conformance.s3 import MockS3Server
from pie_conformance.s3._server import memo_key

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=kit/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"
)
BUCKETS = ("bucketa", "bucketb")
BODIES = (b"AAA", b"BBB", b"0123456789")
PAST, FUTURE = "Sat, 01 Jan 2000 00:00:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"
ETAGS = tuple(f'"{hashlib.md5(b).hexdigest()}"' for b in BODIES) + ("*", '"0000"')
# Answers of two servers differ only in times and ids; everything else must be equal.
_VOLATILE = re.compile(rb"<(LastModified|CreationDate|RequestId|HostId)>[^<]*</\1>")
_COMPARED = ("etag", "content-range", "content-length", "content-type", "accept-ranges")


@pytest.fixture(scope="module")
def uncached() -> Iterator[MockS3Server]:
    with MockS3Server(cache=False) as server:
        yield server


@pytest.fixture
def pair(server: MockS3Server, uncached: MockS3Server) -> tuple[MockS3Server, MockS3Server]:
    """(the shared server with its memo on, a server without memo), both empty."""
    uncached.reset()
    return server, uncached


class _Client:
    """One keep-alive connection to a server; requests with the exact Host and headers given."""

    def __init__(self, server: MockS3Server) -> None:
        self.port = server.port
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def send(
        self,
        method: str,
        bucket: str,
        key: str = "",
        *,
        virtual: bool = False,
        query: str = "",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        signed: bool = True,
    ) -> tuple[int, bytes, dict[str, str]]:
        if virtual and bucket:
            host, path = f"{bucket}.localhost:{self.port}", "/" + key
        else:
            host, path = f"127.0.0.1:{self.port}", "/" + "/".join(p for p in (bucket, key) if p)
        sent = {"Host": host, **(headers or {})}
        if signed:
            sent["Authorization"] = SIGNED
        self.conn.request(method, path + (f"?{query}" if query else ""), body=body, headers=sent)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, {k.lower(): v for k, v in response.getheaders()}

    def close(self) -> None:
        self.conn.close()


def _comparable(answer: tuple[int, bytes, dict[str, str]]) -> tuple[object, ...]:
    status, body, headers = answer
    return (
        status,
        _VOLATILE.sub(rb"<\1/>", body),
        tuple(headers.get(name) for name in _COMPARED),
        "last-modified" in headers,
    )


def _fill(*clients: _Client) -> None:
    for client in clients:
        for bucket in BUCKETS:
            assert client.send("PUT", bucket)[0] == 200
        assert client.send("PUT", "bucketa", "same", body=b"AAA")[0] == 200
        assert client.send("PUT", "bucketb", "same", body=b"BBB")[0] == 200


def _both(
    cached: _Client, plain: _Client, *args: object, **kwargs: object
) -> tuple[int, bytes, dict[str, str]]:
    """The same request to both servers, twice (the second may come from the memo); all four must agree."""
    answers = [client.send(*args, **kwargs) for _ in range(2) for client in (cached, plain)]  # type: ignore[arg-type]
    first = _comparable(answers[1])
    assert [_comparable(a) for a in answers] == [first] * 4, (args, kwargs)
    return answers[0]


def test_a_virtual_host_read_gets_its_own_bucket(pair: tuple[MockS3Server, MockS3Server]) -> None:
    cached, plain = (_Client(s) for s in pair)
    _fill(cached, plain)
    assert _both(cached, plain, "GET", "bucketa", "same")[:2] == (200, b"AAA")  # now in the memo
    assert _both(cached, plain, "GET", "bucketa", "same", virtual=True)[:2] == (200, b"AAA")
    assert _both(cached, plain, "GET", "bucketb", "same", virtual=True)[:2] == (200, b"BBB")
    assert _both(cached, plain, "GET", "bucketb", "same")[:2] == (200, b"BBB")


def test_list_buckets_and_a_virtual_host_listing_are_apart(pair: tuple[MockS3Server, MockS3Server]) -> None:
    cached, plain = (_Client(s) for s in pair)
    _fill(cached, plain)
    status, body, _ = _both(cached, plain, "GET", "")
    assert status == 200 and b"<ListAllMyBucketsResult" in body
    status, body, _ = _both(cached, plain, "GET", "bucketb", virtual=True)
    assert status == 200 and b"<ListBucketResult" in body and b"<Name>bucketb</Name>" in body
    assert _both(cached, plain, "GET", "")[1].count(b"<Bucket>") == 2


def test_ranged_reads_answer_their_range(pair: tuple[MockS3Server, MockS3Server]) -> None:
    cached, plain = (_Client(s) for s in pair)
    for client in (cached, plain):
        client.send("PUT", "bucketa")
        client.send("PUT", "bucketa", "r", body=b"0123456789")
    assert _both(cached, plain, "GET", "bucketa", "r")[1] == b"0123456789"
    ranges = (("bytes=2-4", b"234"), ("bytes=-3", b"789"), ("bytes=7-", b"789"), ("bytes=0-0", b"0"))
    for spec, part in ranges:
        status, body, headers = _both(cached, plain, "GET", "bucketa", "r", headers={"Range": spec})
        assert (status, body) == (206, part) and headers["content-range"].startswith("bytes ")
    assert _both(cached, plain, "GET", "bucketa", "r", headers={"Range": "bytes=20-30"})[0] == 416


def test_conditional_reads_answer_their_condition(pair: tuple[MockS3Server, MockS3Server]) -> None:
    cached, plain = (_Client(s) for s in pair)
    _fill(cached, plain)
    etag_a = ETAGS[0]
    assert _both(cached, plain, "GET", "bucketa", "same")[0] == 200
    cases = [
        ({"If-None-Match": etag_a}, 304),
        ({"If-None-Match": '"0000"'}, 200),
        ({"If-Match": etag_a}, 200),
        ({"If-Match": '"0000"'}, 412),
        ({"If-Modified-Since": FUTURE}, 304),
        ({"If-Modified-Since": PAST}, 200),
        ({"If-Unmodified-Since": PAST}, 412),
        ({"If-Unmodified-Since": FUTURE}, 200),
    ]
    for headers, expected in cases:
        for method in ("GET", "HEAD"):
            assert _both(cached, plain, method, "bucketa", "same", headers=headers)[0] == expected, headers


def test_an_anonymous_read_does_not_get_a_signed_answer(pair: tuple[MockS3Server, MockS3Server]) -> None:
    cached, plain = (_Client(s) for s in pair)
    _fill(cached, plain)
    assert _both(cached, plain, "GET", "bucketa", "same")[0] == 200
    assert _both(cached, plain, "GET", "bucketa", "same", signed=False)[0] == 403


def test_repeated_reads_come_from_the_memo(server: MockS3Server) -> None:
    from pie_conformance.s3 import BUCKET, make_client

    s3 = make_client(server.endpoint_url, "k", "s")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="m", Body=b"memo")
    before = server.stats()
    for _ in range(5):  # boto3 sends a new invocation id and date each time: not part of the key
        assert s3.get_object(Bucket=BUCKET, Key="m")["Body"].read() == b"memo"
    after = server.stats()
    assert after["memo_misses"] - before["memo_misses"] == 1
    assert after["memo_hits"] - before["memo_hits"] == 4
    assert after["memo_entries"] == 1 and after["memo_bytes"] == 4


#: Where a read goes: (bucket, virtual-host addressing); ("", False) is the service (GET / lists buckets).
TARGETS = (("bucketa", False), ("bucketb", False), ("bucketa", True), ("bucketb", True), ("", False))
_HEADER_CHOICES = (
    {},
    {},
    {"Range": "bytes=0-1"},
    {"Range": "bytes=-2"},
    {"If-None-Match": ETAGS[0]},
    {"If-Match": ETAGS[1]},
    {"If-Match": '"0000"'},
    {"If-Modified-Since": FUTURE},
    {"If-Unmodified-Since": PAST},
    {"If-None-Match": "*", "Range": "bytes=1-"},
)
_READ = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "GET", "GET", "HEAD"]),
        "key": st.sampled_from(["same", "other", ""]),
        "query": st.sampled_from(["", "", "list-type=2", "prefix=s"]),
        "headers": st.sampled_from(_HEADER_CHOICES),
        "signed": st.sampled_from([True, True, True, False]),
        "targets": st.permutations(TARGETS),
    }
)
_WRITE = st.tuples(
    st.sampled_from(["PUT", "DELETE"]), st.sampled_from(BUCKETS), st.sampled_from(["same", "other"]),
    st.sampled_from(BODIES),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(_READ, _READ, _WRITE), min_size=1, max_size=6))
def test_with_and_without_the_memo_every_read_is_answered_alike(
    server: MockS3Server, uncached: MockS3Server, steps: list[object]
) -> None:
    """Each read is sent to every target in turn (path-style, virtual-host, the service), so that reads
    which differ only in where they go meet in the memo; writes in between throw it away."""
    server.reset()
    uncached.reset()
    cached, plain = _Client(server), _Client(uncached)
    try:
        _fill(cached, plain)
        for step in steps:
            if isinstance(step, tuple):
                method, bucket, key, body = step
                for client in (cached, plain):
                    client.send(method, bucket, key, body=body if method == "PUT" else None)
                continue
            assert isinstance(step, dict)
            for bucket, virtual in step["targets"]:
                _both(
                    cached, plain, step["method"], bucket, step["key"] if bucket else "", virtual=virtual,
                    query=step["query"] if not (bucket and step["key"]) else "", headers=step["headers"],
                    signed=step["signed"],
                )
    finally:
        cached.close()
        plain.close()


def _environ(**extra: str) -> dict[str, str]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/b/k",
        "RAW_URI": "/b/k",
        "QUERY_STRING": "",
        "HTTP_HOST": "127.0.0.1:9000",
        "HTTP_AUTHORIZATION": SIGNED,
        "HTTP_X_AMZ_DATE": "20240101T000000Z",
        "HTTP_AMZ_SDK_INVOCATION_ID": "one",
    }
    environ.update(extra)
    return environ


def test_the_key_ignores_only_what_changes_with_every_request() -> None:
    base = memo_key(_environ())
    # Date, signature and invocation id change with every request and never the answer.
    later = SIGNED.replace("20240101", "20240102").replace("Signature=00", "Signature=ff")
    same = _environ(
        HTTP_X_AMZ_DATE="20240102T000000Z", HTTP_AMZ_SDK_INVOCATION_ID="two", HTTP_AUTHORIZATION=later
    )
    assert memo_key(same) == base
    for changed in (
        _environ(HTTP_HOST="b.localhost:9000"),
        _environ(HTTP_HOST="127.0.0.1:9001"),
        _environ(RAW_URI="/b/k2"),
        _environ(QUERY_STRING="versionId=1"),
        _environ(HTTP_RANGE="bytes=0-1"),
        _environ(HTTP_IF_NONE_MATCH='"x"'),
        _environ(HTTP_X_AMZ_CHECKSUM_MODE="ENABLED"),
        _environ(HTTP_X_SOMETHING_NEW="1"),  # a header not known here counts
        _environ(REQUEST_METHOD="HEAD"),
        _environ(HTTP_AUTHORIZATION=SIGNED.replace("Credential=kit", "Credential=other")),
        _environ(HTTP_AUTHORIZATION=SIGNED.replace("us-east-1", "eu-west-1")),
        _environ(HTTP_AUTHORIZATION=""),
    ):
        assert memo_key(changed) != base, changed


def test_presigned_urls_are_never_memoised() -> None:
    assert memo_key(_environ(QUERY_STRING="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60")) is None
    assert memo_key(_environ(QUERY_STRING="AWSAccessKeyId=k&Signature=s&Expires=1")) is None
