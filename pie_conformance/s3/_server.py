"""The mock S3 server process: moto's S3 app behind a recording, caching, keep-alive WSGI front.

moto stays the store of record; the front records every request and answers repeated reads from a memo that
any write throws away. The memo is keyed by everything that can select the answer: method, Host, path, query,
the caller's credential and every request header except those that vary per request without changing it
(date, signature, SDK invocation id, hop-by-hop headers). Request bodies are spooled to disk past a few MiB,
and a body larger than the object size limit is refused (``EntityTooLarge``) without being kept.

Run as ``python -m pie_conformance.s3._server [--max-object-size SIZE] [--no-cache]``: it prints
``READY <port>`` once listening and stops on SIGTERM, SIGINT or when its standard input closes (so it never
outlives the process that started it).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import resource
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import parse_qs, unquote

from pie_conformance.s3._record import S3Request, classify, deleted_keys, split_target

#: The header that must carry the control token for ``/_pie/...`` requests.
CONTROL_HEADER = "X-Pie-Control"
CONTROL_ENV = "PIE_S3_CONTROL_TOKEN"
#: The environment variable that sets the object size limit of a ``MockS3Server`` made without one.
MAX_OBJECT_SIZE_ENV = "PIE_S3_MAX_OBJECT_SIZE"
#: The largest request body (object or part) the mock accepts by default: 1 GiB.
DEFAULT_MAX_OBJECT_SIZE = 1 << 30
_SPOOL_MEMORY = 8 * 1024 * 1024  # bytes of a request body kept in memory; the rest goes to a temporary file
_DELETE_BODY_LIMIT = 8 * 1024 * 1024  # a multi-object delete names at most 1,000 keys: far less than this
_CHUNK = 256 * 1024
#: Request headers left out of the memo key: they change with every request (or every hop) and never the
#: answer. The credential part of Authorization is kept (see ``_principal``); every other header counts.
_KEY_IGNORED = frozenset(
    {
        "HTTP_HOST",  # in the key on its own
        "HTTP_AUTHORIZATION",
        "HTTP_X_AMZ_DATE",
        "HTTP_DATE",
        "HTTP_AMZ_SDK_INVOCATION_ID",
        "HTTP_AMZ_SDK_REQUEST",
        "HTTP_CONNECTION",
        "HTTP_KEEP_ALIVE",
        "HTTP_EXPECT",
    }
)
# A presigned URL's answer depends on the clock (it expires): never memoised.
_PRESIGNED = re.compile(r"(?:^|&)(?:X-Amz-Signature|Signature|X-Amz-Expires|Expires)=", re.IGNORECASE)
_V4_CREDENTIAL = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]*)/\d{8}/([^/,\s]*)/([^/,\s]*)/")
_V2_CREDENTIAL = re.compile(r"AWS\s+([^:\s]*):")
_CACHE_LIMIT = 512 * 1024 * 1024  # bytes of cached bodies at most; beyond that, GETs go to moto
_CACHE_ITEM_LIMIT = 32 * 1024 * 1024

StartResponse = Callable[..., Any]
_Response = tuple[str, list[tuple[str, str]], bytes]


def call_wsgi(app: Callable[..., Any], environ: dict[str, Any]) -> _Response:
    """Call a WSGI application and collect its whole answer: status, headers and body (closing the result)."""
    captured: dict[str, Any] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], Any]:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], list(captured["headers"]), body


def _reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def parse_size(text: str) -> int:
    """Bytes from ``1073741824``, ``1GiB``, ``512MiB``, ``64KiB`` (K, M, G and KB, MB, GB count 1024 too).

    Raises ValueError with a message naming the expected form.
    """
    match = re.fullmatch(r"\s*(\d+)\s*(?:([kmgt])(?:i?b)?|b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"expected a size in bytes such as 1073741824, 512MiB or 1GiB, got {text!r}")
    unit = (match.group(2) or "").lower()
    size = int(match.group(1)) * 1024 ** " kmgt".index(unit or " ")
    if size < 1:
        raise ValueError(f"expected a size of at least 1 byte, got {text!r}")
    return size


def error_body(code: str, message: str, **fields: Any) -> bytes:
    """An S3 error document (``<Error><Code>..``), as clients parse it."""
    extra = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{extra}</Error>"
    ).encode()


def _principal(authorization: str | None) -> str:
    """Who signed the request, for the memo key: the credential without its date and signature."""
    if not authorization:
        return ""  # anonymous: bucket and object ACLs decide, so it must never share an answer with a signer
    match = _V4_CREDENTIAL.match(authorization)
    if match:
        return "v4:" + "/".join(match.groups())
    match = _V2_CREDENTIAL.match(authorization)
    if match:
        return "v2:" + match.group(1)
    return "raw:" + authorization  # a scheme not known here: only the very same header shares an answer


def memo_key(environ: dict[str, Any]) -> Hashable | None:
    """What selects the answer to a read, or None when it must not be memoised (a presigned URL).

    Method, Host, raw path, query, the signer's credential and every request header but those in
    ``_KEY_IGNORED`` (so Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, checksum
    mode, SSE-C keys and any header not known here all count).
    """
    query = environ.get("QUERY_STRING", "")
    if query and _PRESIGNED.search(query):
        return None
    raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    headers = tuple(
        sorted((k, v) for k, v in environ.items() if k.startswith("HTTP_") and k not in _KEY_IGNORED)
    )
    return (
        environ.get("REQUEST_METHOD", "GET").upper(),
        environ.get("HTTP_HOST", "").lower(),
        raw_path.split("?", 1)[0],
        query,
        environ.get("CONTENT_TYPE", ""),
        _principal(environ.get("HTTP_AUTHORIZATION")),
        headers,
    )


class RecordingApp:
    """WSGI app: records each S3 request, memoises reads until the next write, and serves ``/_pie/``.

    ``max_object_size`` is the object size limit; the HTTP front refuses larger bodies before they reach the
    app (it marks them ``pie.too_large``) and the app answers ``EntityTooLarge`` and records the attempt.
    """

    def __init__(
        self,
        inner: Callable[..., Iterable[bytes]],
        token: str,
        cache: bool = True,
        max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
    ) -> None:
        self.inner = inner
        self.token = token
        self.use_cache = cache
        self.max_object_size = max_object_size
        self._lock = threading.Lock()
        self._log: list[S3Request] = []
        self._cache: dict[Hashable, _Response] = {}
        self._cache_bytes = 0
        self._generation = 0  # bumped around every write, so a GET that raced a write is not cached
        self._writers = 0
        self._hits = 0
        self._misses = 0
        self._refused = 0
        self._handled = 0  # requests answered by the HTTP front, and the time spent on them (not waiting)
        self._handle_ns = 0

    # -- plumbing -------------------------------------------------------------------------------
    def _call_inner(self, environ: dict[str, Any]) -> _Response:
        return call_wsgi(self.inner, environ)

    def _clear_cache(self) -> None:
        self._cache.clear()
        self._cache_bytes = 0

    def note_handled(self, nanoseconds: int) -> None:
        """Count one request the HTTP front answered and the time it took, from request line to answer."""
        with self._lock:
            self._handled += 1
            self._handle_ns += nanoseconds

    def stats(self) -> dict[str, int]:
        """Counters: memo entries, bytes, hits and misses, refused bodies, the size limit, peak memory."""
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with self._lock:
            return {
                "pid": os.getpid(),
                "memo_entries": len(self._cache),
                "memo_bytes": self._cache_bytes,
                "memo_hits": self._hits,
                "memo_misses": self._misses,
                "refused": self._refused,
                "handled": self._handled,
                "handle_ns": self._handle_ns,
                "max_object_size": self.max_object_size,
                # ru_maxrss is in KiB on Linux, in bytes on macOS.
                "max_rss_bytes": peak if sys.platform == "darwin" else peak * 1024,
            }

    # -- control --------------------------------------------------------------------------------
    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ.get("HTTP_" + CONTROL_HEADER.upper().replace("-", "_")) != self.token:
            return self._reply(start_response, "403 Forbidden", {"error": "bad control token"})
        action = environ.get("PATH_INFO", "")[len("/_pie/") :]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if action == "requests":
            since = int(query.get("since", ["0"])[0])
            with self._lock:
                items = [r.to_dict() for r in self._log[since:]]
            return self._reply(start_response, "200 OK", items)
        if action == "clear":
            with self._lock:
                self._log.clear()
            return self._reply(start_response, "200 OK", {})
        if action == "reset":
            with self._lock:
                self._generation += 1
                self._clear_cache()
                _reset_moto()
                self._log.clear()
            return self._reply(start_response, "200 OK", {})
        if action == "ping":
            return self._reply(start_response, "200 OK", {"pid": os.getpid()})
        if action == "stats":
            return self._reply(start_response, "200 OK", self.stats())
        return self._reply(start_response, "404 Not Found", {"error": f"no control action {action!r}"})

    @staticmethod
    def _reply(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
        body = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    # -- S3 -------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """Serve one request."""
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_pie/"):
            return self._control(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        query = environ.get("QUERY_STRING", "")
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
        bucket, key = split_target(environ.get("HTTP_HOST", ""), raw_path)
        op = classify(method, bucket, key, query)
        too_large = environ.get("pie.too_large")
        if too_large is not None:
            status, headers, body = self._too_large(too_large)
        elif method in ("GET", "HEAD"):
            status, headers, body = self._read(environ)
        else:
            status, headers, body = self._write(environ, op)
        code = int(status.split(" ", 1)[0])
        if op == "DELETE" and not key:
            records = [S3Request("DELETE", bucket, k, 0, code) for k in environ.get("pie.deleted_keys", [])]
        else:
            sent = len(body) if method == "GET" else _request_bytes(environ) if op == "PUT" else 0
            if too_large is not None:
                sent = too_large  # what the request announced (or carried), though none of it was kept
            records = [S3Request(op, bucket, key, sent, code)]
        with self._lock:
            self._log.extend(records)
        start_response(status, headers)
        return [body] if method != "HEAD" else []

    def _too_large(self, size: int) -> _Response:
        with self._lock:
            self._refused += 1
        body = error_body(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size (the mock S3's object size limit, "
            "--max-object-size)",
            ProposedSize=size,
            MaxSizeAllowed=self.max_object_size,
        )
        return "400 Bad Request", [("Content-Type", "application/xml")], body

    def _read(self, environ: dict[str, Any]) -> _Response:
        key = memo_key(environ) if self.use_cache else None
        generation = -1
        if key is not None:
            with self._lock:
                hit = self._cache.get(key) if self._writers == 0 else None
                generation = self._generation
                if hit is not None:
                    self._hits += 1
                    return hit
                self._misses += 1
        response = self._call_inner(environ)
        if key is not None and response[0].startswith("200") and len(response[2]) <= _CACHE_ITEM_LIMIT:
            with self._lock:
                fits = self._cache_bytes + len(response[2]) <= _CACHE_LIMIT
                if self._generation == generation and self._writers == 0 and fits:
                    self._cache[key] = response
                    self._cache_bytes += len(response[2])
        return response

    def _write(self, environ: dict[str, Any], op: str) -> _Response:
        if op == "DELETE" and environ.get("REQUEST_METHOD") == "POST":
            # A multi-object delete: remember its keys so that each one is recorded.
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > _DELETE_BODY_LIMIT:
                environ["pie.deleted_keys"] = [""]  # recorded as a refused delete of the bucket's keys
                body = error_body("MalformedXML", "a multi-object delete names at most 1,000 keys")
                return "400 Bad Request", [("Content-Type", "application/xml")], body
            data = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(data)
            environ["pie.deleted_keys"] = deleted_keys(data)
        with self._lock:
            self._writers += 1
            self._generation += 1
            self._clear_cache()
        try:
            return self._call_inner(environ)
        finally:
            with self._lock:
                self._writers -= 1
                self._generation += 1
                self._clear_cache()


def _request_bytes(environ: dict[str, Any]) -> int:
    # boto3 may send the body aws-chunked; the decoded length is the object's size.
    value = environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH") or environ.get("CONTENT_LENGTH") or 0
    try:
        return int(value)
    except ValueError:
        return 0


def _moto_checks_signatures() -> bool:
    from moto import settings

    return not math.isinf(float(settings.INITIAL_NO_AUTH_ACTION_COUNT))


def build_app(token: str, cache: bool = True, max_object_size: int = DEFAULT_MAX_OBJECT_SIZE) -> RecordingApp:
    """moto's S3 Flask app wrapped in the recording front."""
    from moto.moto_server.werkzeug_app import create_backend_app

    # With moto's request authentication on, signatures and their clock select the answer: no memo then.
    cache = cache and not _moto_checks_signatures()
    return RecordingApp(create_backend_app("s3"), token, cache=cache, max_object_size=max_object_size)


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


_HTTP_VERSION = re.compile(r"HTTP/(\d{1,10})\.(\d{1,10})")
_MAX_HEADERS = 100  # as http.client
_MAX_LINE = 65536


class _Headers:
    """A request's headers: ``get`` and ``[]`` by any case (the first of repeated ones, None when absent) and
    ``items()`` in arrival order, as ``email.message.Message`` gives them, read without the email parser."""

    __slots__ = ("_first", "_items")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._first: dict[str, str] = {}
        for name, value in items:
            self._first.setdefault(name.lower(), value)

    @classmethod
    def read(cls, rfile: io.BufferedIOBase) -> _Headers | str:
        """The headers up to the blank line, or what is wrong with them (too long a line, too many)."""
        items: list[tuple[str, str]] = []
        while True:
            line = rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                return "Line too long"
            if line in (b"\r\n", b"\n", b""):
                return cls(items)
            if len(items) >= _MAX_HEADERS:
                return "Too many headers"
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and items:  # an obsolete folded line continues the previous value
                name, value = items[-1]
                items[-1] = (name, f"{value} {text.strip()}")
                continue
            name, sep, value = text.partition(":")
            if sep:
                items.append((name.strip(), value.strip(" \t")))

    def get(self, name: str, default: Any = None) -> Any:
        """The first value of header ``name`` (any case), else ``default``."""
        return self._first.get(name.lower(), default)

    def __getitem__(self, name: str) -> str | None:
        return self._first.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value), repeated ones included, in arrival order."""
        return list(self._items)


class _BadRequest(Exception):
    """A request the front cannot read (a malformed length or chunk): answered 400, connection closed."""


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive in front of a WSGI app (werkzeug's dev server closes every connection)."""

    protocol_version = "HTTP/1.1"
    server_version = "pie-mock-s3"
    app: RecordingApp
    server_name = "127.0.0.1"
    server_port = "0"
    raw_requestline: bytes
    _started = 0

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write, and small answers must not wait for Nagle.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def parse_request(self) -> bool:
        """Parse the request line and headers (as the base class does, without its slow email parser).

        The clock of the request starts here: its first line has come. On failure an error answer has been
        sent and False is returned.
        """
        self._started = time.perf_counter_ns()
        self.command = None  # type: ignore[assignment]  # set in case of an error on the first line
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3:  # S3 clients speak HTTP/1.x; HTTP/0.9 and garbage are refused
            if words:
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({self.requestline!r})")
            return False
        command, path, version = words
        match = _HTTP_VERSION.fullmatch(version)
        if match is None:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
            return False
        number = (int(match.group(1)), int(match.group(2)))
        if number >= (2, 0):
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({version})")
            return False
        self.request_version = version
        self.close_connection = number < (1, 1)
        # As the base class: "//x" would read as a host to some clients (gh-87389).
        self.command, self.path = command, ("/" + path.lstrip("/")) if path.startswith("//") else path
        headers = _Headers.read(self.rfile)
        if isinstance(headers, str):
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, headers)
            return False
        self.headers = headers  # type: ignore[assignment]  # what the handler reads of a Message
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if headers.get("Expect", "").lower() == "100-continue" and number >= (1, 1):
            return self.handle_expect_100()
        return True

    # -- request bodies: spooled, never larger than the limit -------------------------------------
    def _lengths(self) -> tuple[int | None, int | None]:
        """(Content-Length, x-amz-decoded-content-length) as announced; _BadRequest when not numbers."""
        values: list[int | None] = []
        for name in ("Content-Length", "x-amz-decoded-content-length"):
            text = self.headers.get(name)
            if text is None:
                values.append(None)
                continue
            try:
                value = int(text)
            except ValueError:
                raise _BadRequest(f"{name}: expected a number of bytes, got {text!r}") from None
            if value < 0:
                raise _BadRequest(f"{name}: expected a number of bytes, got {text!r}")
            values.append(value)
        return values[0], values[1]

    def _announced_too_large(self) -> int | None:
        """The announced size when it is past the limit (before any byte of the body is read), else None."""
        raw, decoded = self._lengths()
        limit = self.app.max_object_size
        if decoded is not None and decoded > limit:
            return decoded
        # An aws-chunked body carries chunk signatures too: allow for them, not for more.
        if raw is not None and raw > limit + limit // 16 + 65536:
            return decoded if decoded is not None else raw
        return None

    def handle_expect_100(self) -> bool:
        """Refuse a too large body before the client sends it; else let it come (100 Continue)."""
        try:
            size = self._announced_too_large()
        except _BadRequest as exc:
            self._send_bad_request(str(exc))
            return False
        if size is not None:
            self.close_connection = True  # a client that sends the body anyway is not read further
            self._serve(too_large=size, body=(None, 0))
            return False
        return super().handle_expect_100()

    def _send_bad_request(self, message: str) -> None:
        self.close_connection = True
        body = error_body("BadRequest", message)
        self._send("400 Bad Request", [("Content-Type", "application/xml")], body)

    def _discard(self, length: int) -> None:
        while length > 0:
            data = self.rfile.read(min(_CHUNK, length))
            if not data:
                break
            length -= len(data)

    def _chunks(self) -> Iterable[bytes]:
        """The decoded pieces of a chunked body (read as they come, never all at once)."""
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise _BadRequest(f"malformed chunk size line {line[:40]!r}") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            while size > 0:
                data = self.rfile.read(min(_CHUNK, size))
                if not data:
                    raise _BadRequest("the connection closed inside a chunk")
                size -= len(data)
                yield data
            self.rfile.readline()

    def _body(self) -> tuple[IO[bytes] | None, int] | int:
        """The request body spooled (memory up to a few MiB, then a temporary file) with its length, or the
        size that made it too large (what was read of it is dropped)."""
        raw, _decoded = self._lengths()
        too_large = self._announced_too_large()
        if too_large is not None:
            if raw is not None:
                self._discard(raw)  # read and dropped, so that the client gets the answer, not a reset
            else:
                for _ in self._chunks():
                    pass
            return too_large
        if raw is not None:
            pieces: Iterable[bytes] = self._exactly(raw)
        elif "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            pieces = self._chunks()
        else:
            return None, 0
        limit = self.app.max_object_size + self.app.max_object_size // 16 + 65536
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY)  # noqa: SIM115 - returned
        length = 0
        for data in pieces:
            length += len(data)
            if length > limit:
                spool.close()
                for _ in pieces:
                    pass
                return length
            spool.write(data)
        spool.seek(0)
        return spool, length

    def _exactly(self, length: int) -> Iterable[bytes]:
        while length > 0:
            data = self.rfile.read(min(_CHUNK, length))
            if not data:
                raise _BadRequest("the connection closed before the whole body came")
            length -= len(data)
            yield data

    def _environ(self, stream: IO[bytes] | None, length: int) -> dict[str, Any]:
        from moto.core.request import (
            PRESERVED_HEADER_NAMES_ENVIRON_KEY,
            environ_key_for_header,
            should_preserve_original_header_name,
        )

        raw_path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(raw_path).encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": self.server_port,
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(length),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": stream if stream is not None else io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        if self.headers.get("Content-Type"):
            environ["CONTENT_TYPE"] = self.headers["Content-Type"]
        preserved: dict[str, str] = {}
        for name, value in self.headers.items():
            lower = name.lower()
            if lower in ("content-type", "content-length"):
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
            if should_preserve_original_header_name(name):
                # S3 metadata names may hold underscores; moto wants their original spelling.
                preserved.setdefault(environ_key_for_header(name), name)
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = preserved
        return environ

    def _serve(self, too_large: int | None = None, body: tuple[IO[bytes] | None, int] | None = None) -> None:
        stream: IO[bytes] | None = None
        try:
            if body is None:
                got = self._body()
                if isinstance(got, int):
                    too_large, body = got, (None, 0)
                else:
                    body = got
            stream, length = body
            environ = self._environ(stream, length)
            if too_large is not None:
                environ["pie.too_large"] = too_large
            status, headers, payload = call_wsgi(self.app, environ)
        except _BadRequest as exc:
            self._send_bad_request(str(exc))
            return
        except Exception as exc:  # the mock must answer, not hang up: a 500 names the error
            status, headers = "500 Internal Server Error", [("Content-Type", "application/xml")]
            payload = error_body("InternalError", f"{type(exc).__name__}: {exc}")
        finally:
            if stream is not None:
                stream.close()  # a spooled body's temporary file goes now
        self._send(status, headers, payload)

    def _send(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        lines = [f"HTTP/1.1 {status}"]
        length = None
        for name, value in headers:
            if name.lower() == "content-length":
                length = value
            if name.lower() not in _HOP_BY_HOP:
                lines.append(f"{name}: {value}")
        if self.command == "HEAD":
            lines.append(f"Content-Length: {length if length is not None else 0}")
            payload = b""
        else:
            lines.append(f"Content-Length: {len(payload)}")
        lines.append(f"Date: {self.date_time_string()}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + payload)
        self.app.note_handled(time.perf_counter_ns() - self._started)

    def _do(self) -> None:
        self._serve()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _do


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def make_http_server(app: RecordingApp, host: str, port: int) -> ThreadingHTTPServer:
    """A threaded HTTP/1.1 server that keeps connections alive and hands every request to ``app``."""

    class Handler(_Handler):
        pass

    Handler.app = app
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (_ThreadingServer,), {"address_family": family})
    server = server_class((host, port), Handler)
    Handler.server_name, Handler.server_port = host, str(server.server_address[1])
    return server


def _size_option(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Serve until told to stop; print ``READY <port>`` once listening."""
    parser = argparse.ArgumentParser(prog="python -m pie_conformance.s3._server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="answer every read from moto")
    parser.add_argument(
        "--max-object-size",
        type=_size_option,
        default=DEFAULT_MAX_OBJECT_SIZE,
        metavar="SIZE",
        help="refuse request bodies (objects, parts) larger than this with EntityTooLarge "
        "(bytes, or e.g. 512MiB, 1GiB; default 1GiB)",
    )
    args = parser.parse_args(argv)
    token = os.environ.get(CONTROL_ENV, "")
    app = build_app(token, cache=not args.no_cache, max_object_size=args.max_object_size)
    server = make_http_server(app, args.host, args.port)
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin() -> None:
        # The parent holds our stdin open; EOF means it is gone, so we go too.
        try:
            while sys.stdin.buffer.read(1024):
                pass
        except (OSError, ValueError):
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write(f"READY {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
