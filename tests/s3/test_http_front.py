"""The mock's HTTP/1.1 front: request heads it reads, the ones it refuses, and what it counts."""

from __future__ import annotations

import io
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pie_conformance.s3 import BUCKET, MockS3Server, make_client
from pie_conformance.s3._server import _Headers


def _exchange(server: MockS3Server, raw: bytes) -> bytes:
    """Send ``raw`` on a new connection and return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/2.0\r\n\r\n", b"505"),
        (b"GET / HTTP/1.x\r\n\r\n", b"400"),
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET /\r\n\r\n", b"400"),  # HTTP/0.9
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
    ],
)
def test_malformed_heads_get_an_error_and_the_server_stays_up(
    server: MockS3Server, head: bytes, status: bytes
) -> None:
    answer = _exchange(server, head)
    # Before a valid version is read the answer has no status line (as http.server answers HTTP/0.9).
    assert b"Error code: " + status in answer, answer[:300]
    assert server.running
    make_client(server.endpoint_url, "k", "s").create_bucket(Bucket=BUCKET)


def test_http_1_0_closes_and_1_1_keeps_alive(server: MockS3Server) -> None:
    make_client(server.endpoint_url, "k", "s").create_bucket(Bucket=BUCKET)
    one = _exchange(server, b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert one.startswith(b"HTTP/1.1 200") and b"Connection: close" in one
    two = _exchange(server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 2)  # two answers on one connection
    assert two.count(b"HTTP/1.1 200") == 2


def test_metadata_names_with_underscores_survive(server: MockS3Server) -> None:
    s3 = make_client(server.endpoint_url, "k", "s")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="m", Body=b"1", Metadata={"with_underscore": "1", "plain": "2"})
    assert s3.head_object(Bucket=BUCKET, Key="m")["Metadata"] == {"with_underscore": "1", "plain": "2"}


def test_every_answer_is_counted_with_its_time(server: MockS3Server) -> None:
    s3 = make_client(server.endpoint_url, "k", "s")
    before = server.stats()
    s3.create_bucket(Bucket=BUCKET)
    s3.list_buckets()
    after = server.stats()
    assert after["handled"] - before["handled"] == 3  # the two calls and the first stats request
    assert after["handle_ns"] > before["handle_ns"]


_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1,
                max_size=20)
_VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)


@given(st.lists(st.tuples(_NAME, _VALUE), max_size=20))
def test_headers_read_as_the_email_parser_reads_them(items: list[tuple[str, str]]) -> None:
    import email.parser

    raw = "".join(f"{name}: {value}\r\n" for name, value in items) + "\r\n"
    ours = _Headers.read(io.BytesIO(raw.encode("iso-8859-1") + b"BODY"))
    theirs = email.parser.Parser().parsestr(raw)
    assert isinstance(ours, _Headers)
    assert ours.items() == list(theirs.items())
    for name, _ in items:
        assert ours.get(name.upper()) == theirs.get(name) == ours[name.lower()]
        assert name.swapcase() in ours
    assert ours.get("Not-There", "d") == "d" and ours["Not-There"] is None


def test_a_folded_header_line_continues_the_value() -> None:
    headers = _Headers.read(io.BytesIO(b"X-A: one\r\n two\r\nX-B: 3\r\n\r\n"))
    assert isinstance(headers, _Headers)
    assert headers.items() == [("X-A", "one two"), ("X-B", "3")]
