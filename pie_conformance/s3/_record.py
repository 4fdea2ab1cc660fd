"""What the mock S3 records of each request it serves, and how a raw HTTP request maps onto it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

#: Operations that change the store: any of them against a dataset prefix breaks RUN004.
WRITE_OPS: frozenset[str] = frozenset(
    {"PUT", "DELETE", "POST", "CREATE_BUCKET", "DELETE_BUCKET", "PUT_BUCKET_CONFIG"}
)


@dataclass(frozen=True)
class S3Request:
    """One request the mock served: operation, bucket, key (bare, no ``s3://``), body bytes and HTTP status.

    ``op`` is GET, HEAD, PUT, DELETE, LIST (a bucket listing), LIST_BUCKETS, HEAD_BUCKET, CREATE_BUCKET,
    DELETE_BUCKET, PUT_BUCKET_CONFIG or POST. ``bytes`` counts the object body sent (GET) or received (PUT).
    """

    op: str
    bucket: str
    key: str
    bytes: int
    status: int

    @property
    def is_write(self) -> bool:
        """Whether the request changes (or tries to change) the store."""
        return self.op in WRITE_OPS

    @property
    def ok(self) -> bool:
        """Whether the mock answered with a 2xx status."""
        return 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        """The request as a plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> S3Request:
        """The inverse of ``to_dict``."""
        return cls(
            str(data["op"]), str(data["bucket"]), str(data["key"]), int(data["bytes"]), int(data["status"])
        )


def split_target(host: str, raw_path: str) -> tuple[str, str]:
    """(bucket, key) of a request, path-style (``/bucket/key``) or virtual-host (``bucket.localhost``)."""
    path = unquote(raw_path.split("?", 1)[0])
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    virtual = None
    if hostname.endswith(".localhost"):
        virtual = hostname[: -len(".localhost")]
    else:
        match = re.match(r"^(?P<bucket>.+)\.s3[.-].*amazonaws\.com$", hostname)
        if match:
            virtual = match.group("bucket")
    if virtual:
        return virtual, path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def classify(method: str, bucket: str, key: str, query: str) -> str:
    """The operation name of a request (see ``S3Request.op``)."""
    params = parse_qs(query, keep_blank_values=True)
    method = method.upper()
    if not bucket:
        return "LIST_BUCKETS" if method == "GET" else method
    if key:
        if method == "POST":
            # Multipart uploads are writes, whatever step they are at.
            return "PUT" if ("uploads" in params or "uploadId" in params) else "POST"
        return {"GET": "GET", "HEAD": "HEAD", "PUT": "PUT", "DELETE": "DELETE"}.get(method, method)
    if method == "GET":
        return "LIST"
    if method == "HEAD":
        return "HEAD_BUCKET"
    if method == "PUT":
        return "PUT_BUCKET_CONFIG" if params else "CREATE_BUCKET"
    if method == "DELETE":
        return "DELETE_BUCKET" if not params else "PUT_BUCKET_CONFIG"
    if method == "POST" and "delete" in params:
        return "DELETE"
    return method


def deleted_keys(body: bytes) -> list[str]:
    """The keys named by a multi-object delete request body (``<Delete><Object><Key>...``)."""
    return [unquote_xml(k) for k in re.findall(rb"<Key>(.*?)</Key>", body, flags=re.S)]


def unquote_xml(raw: bytes) -> str:
    """Decode an XML text node's entities (enough for S3 keys)."""
    text = raw.decode("utf-8", "replace")
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text
