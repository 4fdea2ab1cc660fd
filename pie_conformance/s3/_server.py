"""The mock S3 server process: moto's S3 app behind a recording, caching, keep-alive WSGI front.

moto stays the store of record; the front records every request and answers repeated plain GETs from an
in-memory copy that any write throws away. Run as ``python -m pie_conformance.s3._server``: it prints
``READY <port>`` once listening and stops on SIGTERM, SIGINT or when its standard input closes (so it never
outlives the process that started it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from pie_conformance.s3._record import S3Request, classify, deleted_keys, split_target

#: The header that must carry the control token for ``/_pie/...`` requests.
CONTROL_HEADER = "X-Pie-Control"
CONTROL_ENV = "PIE_S3_CONTROL_TOKEN"
_CONDITIONAL = (
    "HTTP_RANGE",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)
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


class RecordingApp:
    """WSGI app: records each S3 request, caches plain GETs until the next write, and serves ``/_pie/``."""

    def __init__(self, inner: Callable[..., Iterable[bytes]], token: str, cache: bool = True) -> None:
        self.inner = inner
        self.token = token
        self.use_cache = cache
        self._lock = threading.Lock()
        self._log: list[S3Request] = []
        self._cache: dict[tuple[str, str, str], _Response] = {}
        self._cache_bytes = 0
        self._generation = 0  # bumped around every write, so a GET that raced a write is not cached
        self._writers = 0

    # -- plumbing -------------------------------------------------------------------------------
    def _call_inner(self, environ: dict[str, Any]) -> _Response:
        return call_wsgi(self.inner, environ)

    def _clear_cache(self) -> None:
        self._cache.clear()
        self._cache_bytes = 0

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
        if method in ("GET", "HEAD"):
            status, headers, body = self._read(environ, method, raw_path, query)
        else:
            status, headers, body = self._write(environ, op)
        code = int(status.split(" ", 1)[0])
        if op == "DELETE" and not key:
            records = [S3Request("DELETE", bucket, k, 0, code) for k in environ.get("pie.deleted_keys", [])]
        else:
            sent = len(body) if method == "GET" else _request_bytes(environ) if op == "PUT" else 0
            records = [S3Request(op, bucket, key, sent, code)]
        with self._lock:
            self._log.extend(records)
        start_response(status, headers)
        return [body] if method != "HEAD" else []

    def _read(self, environ: dict[str, Any], method: str, raw_path: str, query: str) -> _Response:
        cacheable = self.use_cache and not any(h in environ for h in _CONDITIONAL)
        cache_key = (method, raw_path.split("?", 1)[0], query)
        if cacheable:
            with self._lock:
                hit = self._cache.get(cache_key) if self._writers == 0 else None
                generation = self._generation
            if hit is not None:
                return hit
        response = self._call_inner(environ)
        if cacheable and response[0].startswith("200") and len(response[2]) <= _CACHE_ITEM_LIMIT:
            with self._lock:
                fits = self._cache_bytes + len(response[2]) <= _CACHE_LIMIT
                if self._generation == generation and self._writers == 0 and fits:
                    self._cache[cache_key] = response
                    self._cache_bytes += len(response[2])
        return response

    def _write(self, environ: dict[str, Any], op: str) -> _Response:
        if op == "DELETE" and environ.get("REQUEST_METHOD") == "POST":
            # A multi-object delete: remember its keys so that each one is recorded.
            length = int(environ.get("CONTENT_LENGTH") or 0)
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


def build_app(token: str, cache: bool = True) -> RecordingApp:
    """moto's S3 Flask app wrapped in the recording front."""
    from moto.moto_server.werkzeug_app import create_backend_app

    return RecordingApp(create_backend_app("s3"), token, cache=cache)


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive in front of a WSGI app (werkzeug's dev server closes every connection)."""

    protocol_version = "HTTP/1.1"
    server_version = "pie-mock-s3"
    app: RecordingApp
    server_name = "127.0.0.1"
    server_port = "0"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write, and small answers must not wait for Nagle.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _environ(self, body: bytes) -> dict[str, Any]:
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
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
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

    def _serve(self) -> None:
        body = self._body()
        try:
            status, headers, payload = call_wsgi(self.app, self._environ(body))
        except Exception as exc:  # the mock must answer, not hang up: a 500 names the error
            message = f"{type(exc).__name__}: {exc}"
            payload = f"<Error><Code>InternalError</Code><Message>{message}</Message></Error>".encode()
            status, headers = "500 Internal Server Error", [("Content-Type", "application/xml")]
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

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


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


def main(argv: list[str] | None = None) -> int:
    """Serve until told to stop; print ``READY <port>`` once listening."""
    parser = argparse.ArgumentParser(prog="python -m pie_conformance.s3._server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    token = os.environ.get(CONTROL_ENV, "")
    app = build_app(token, cache=not args.no_cache)
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
