"""How a raw request maps onto the recorded operation, bucket and key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pie_conformance.s3._record import S3Request, classify, deleted_keys, split_target


@pytest.mark.parametrize(
    ("method", "bucket", "key", "query", "op"),
    [
        ("GET", "b", "k.png", "", "GET"),
        ("HEAD", "b", "k.png", "", "HEAD"),
        ("PUT", "b", "k.png", "", "PUT"),
        ("DELETE", "b", "k.png", "", "DELETE"),
        ("POST", "b", "k.th", "uploads", "PUT"),
        ("POST", "b", "k.th", "uploadId=1", "PUT"),
        ("GET", "b", "", "list-type=2&prefix=x", "LIST"),
        ("HEAD", "b", "", "", "HEAD_BUCKET"),
        ("PUT", "b", "", "", "CREATE_BUCKET"),
        ("PUT", "b", "", "acl", "PUT_BUCKET_CONFIG"),
        ("DELETE", "b", "", "", "DELETE_BUCKET"),
        ("POST", "b", "", "delete", "DELETE"),
        ("GET", "", "", "", "LIST_BUCKETS"),
    ],
)
def test_classify(method: str, bucket: str, key: str, query: str, op: str) -> None:
    assert classify(method, bucket, key, query) == op


def test_split_target_path_and_virtual_host() -> None:
    assert split_target("127.0.0.1:9000", "/pie-engine-ai/devel/a%20b.png?x=1") == (
        "pie-engine-ai",
        "devel/a b.png",
    )
    assert split_target("pie-engine-ai.localhost:9000", "/devel/a.png") == ("pie-engine-ai", "devel/a.png")
    assert split_target("pie-engine-ai.s3.us-east-1.amazonaws.com", "/k") == ("pie-engine-ai", "k")
    assert split_target("127.0.0.1:1", "/") == ("", "")


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1), max_size=5))
def test_deleted_keys_reads_back_any_escaped_key(keys: list[str]) -> None:
    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    body = "<Delete>" + "".join(f"<Object><Key>{esc(k)}</Key></Object>" for k in keys) + "</Delete>"
    assert deleted_keys(body.encode()) == keys


def test_request_round_trips_through_a_dict() -> None:
    request = S3Request("PUT", "b", "k", 3, 200)
    assert S3Request.from_dict(request.to_dict()) == request and request.is_write and request.ok
