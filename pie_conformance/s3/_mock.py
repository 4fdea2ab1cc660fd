"""``MockS3Server``: a moto-backed S3 on 127.0.0.1 that records what it serves.

By default the server runs in a child process (its own moto state and its own interpreter lock, so
several servers can run at once and a busy caller does not slow it down). ``in_process=True`` uses
moto's ``mock_aws`` inside this process instead: no socket at all, for unit tests that use boto3 here.
Either refuses request bodies larger than ``max_object_size`` (``EntityTooLarge``, 400).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

from pie_conformance.errors import KitEnvironmentError, UsageError
from pie_conformance.s3._record import S3Request, classify, deleted_keys, split_target
from pie_conformance.s3._server import (
    CONTROL_ENV,
    CONTROL_HEADER,
    DEFAULT_MAX_OBJECT_SIZE,
    MAX_OBJECT_SIZE_ENV,
    error_body,
    parse_size,
)

#: The endpoint the in-process variant answers on (moto intercepts it before any connection is made).
IN_PROCESS_ENDPOINT = "https://s3.us-east-1.amazonaws.com"
_START_TIMEOUT = 60.0


def default_max_object_size() -> int:
    """The object size limit of a server made without one: ``PIE_S3_MAX_OBJECT_SIZE`` if set, else 1 GiB."""
    text = os.environ.get(MAX_OBJECT_SIZE_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_OBJECT_SIZE
    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(f"{MAX_OBJECT_SIZE_ENV}: {exc}") from None


class MockS3Server:
    """A mock S3 endpoint, started by ``with`` (or ``start()``) and stopped on exit (or ``stop()``).

    ``cache=False`` answers every read from moto (no memo). ``max_object_size`` (bytes) is the largest
    request body accepted; larger ones are refused with ``EntityTooLarge`` without being kept in memory
    (default: ``PIE_S3_MAX_OBJECT_SIZE`` from the environment, e.g. ``512MiB``, else 1 GiB).
    """

    _in_process_owner: MockS3Server | None = None

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        in_process: bool = False,
        cache: bool = True,
        max_object_size: int | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"expected a loopback host for the mock S3, got {host!r}")
        if max_object_size is None:
            max_object_size = default_max_object_size()
        elif isinstance(max_object_size, bool) or not isinstance(max_object_size, int) or max_object_size < 1:
            raise ValueError(f"expected max_object_size in bytes (at least 1), got {max_object_size!r}")
        self.host = host
        self.port = port
        self.in_process = in_process
        self.cache = cache
        self.max_object_size = max_object_size
        self._refused = 0
        self._token = secrets.token_hex(16)
        self._process: subprocess.Popen[bytes] | None = None
        self._mock: Any = None
        self._log: list[S3Request] = []
        self._log_lock = threading.Lock()
        self._handler: Any = None
        self._endpoint: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> MockS3Server:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is started and (for the child process) still alive."""
        if self.in_process:
            return self._mock is not None
        return self._process is not None and self._process.poll() is None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT`` (or the intercepted AWS URL for the in-process variant)."""
        if self._endpoint is None:
            raise RuntimeError("the mock S3 is not started; use it in a `with` block or call start()")
        return self._endpoint

    def start(self) -> MockS3Server:
        """Start serving; returns self."""
        if self._endpoint is not None:
            return self
        if self.in_process:
            self._start_in_process()
        else:
            self._start_process()
        return self

    def stop(self) -> None:
        """Stop serving and forget everything stored (idempotent)."""
        if self.in_process:
            self._stop_in_process()
        elif self._process is not None:
            proc, self._process = self._process, None
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # the server watches its stdin and leaves on EOF
                proc.terminate()
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()
        self._endpoint = None

    def _start_process(self) -> None:
        env = dict(os.environ)
        env[CONTROL_ENV] = self._token
        # Nothing of the user's AWS set-up may leak into the mock (it never needs any).
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            env.pop(name, None)
        cmd = [
            sys.executable,
            "-m",
            "pie_conformance.s3._server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--max-object-size",
            str(self.max_object_size),
        ]
        if not self.cache:
            cmd.append("--no-cache")
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
        except OSError as exc:
            raise KitEnvironmentError(f"cannot start the mock S3 server: {exc}") from None
        assert proc.stdout is not None
        line = _read_line(proc, _START_TIMEOUT)
        if not line.startswith("READY "):
            err = b""
            try:
                proc.wait(timeout=5)  # it usually died (a port in use): its last words say why
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                err = proc.stderr.read()[-2000:]
            detail = (
                err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else [line or "no answer"]
            )
            raise KitEnvironmentError(
                f"the mock S3 server did not start on {self.host}:{self.port or '(free port)'}: {detail[0]}"
            )
        # Nobody reads the server's stderr from here on: send it nowhere so that it can never block.
        if proc.stderr is not None:
            threading.Thread(target=_drain, args=(proc.stderr,), daemon=True).start()
        self._process = proc
        self.port = int(line.split()[1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._endpoint = f"http://{host}:{self.port}"

    def _control(self, action: str, method: str = "POST") -> Any:
        if not self.running:
            raise RuntimeError("the mock S3 is not running")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, f"/_pie/{action}", headers={CONTROL_HEADER: self._token})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"mock S3 control {action!r} failed: {response.status} {body[:200]!r}")
            return json.loads(body)
        finally:
            conn.close()

    # -- in-process variant ---------------------------------------------------------------------
    def _start_in_process(self) -> None:
        if MockS3Server._in_process_owner is not None:
            raise RuntimeError(
                "only one in-process mock S3 can run at a time (moto's state is per process); "
                "use MockS3Server() without in_process for several at once"
            )
        MockS3Server._in_process_owner = self
        from botocore.awsrequest import AWSResponse
        from botocore.handlers import BUILTIN_HANDLERS
        from moto import mock_aws
        from moto.core.botocore_stubber import MockRawResponse
        from moto.core.models import botocore_stubber

        log, lock = self._log, self._log_lock

        def record(request: Any, **kwargs: Any) -> Any:
            # Runs before moto's own stubber for every request a client in this process sends.
            if not botocore_stubber.enabled:
                return None
            raw = request.url.split("://", 1)[-1]
            host, _, rest = raw.partition("/")
            query = rest.partition("?")[2]
            bucket, key = split_target(host, "/" + rest)
            op = classify(request.method, bucket, key, query)
            size = _body_size(request)
            if size > self.max_object_size:
                with lock:
                    self._refused += 1
                    log.append(S3Request(op, bucket, key, size, 400))
                data = error_body(
                    "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                    ProposedSize=size, MaxSizeAllowed=self.max_object_size,
                )
                return AWSResponse(
                    request.url, 400, {"Content-Type": "application/xml"}, MockRawResponse(data)
                )
            result = botocore_stubber.process_request(request)
            if result is None:
                return None
            status, headers, body = result
            data = body.encode() if isinstance(body, str) else (body or b"")
            with lock:
                if op == "DELETE" and not key:
                    payload = (
                        request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
                    )
                    log.extend(S3Request("DELETE", bucket, k, 0, status) for k in deleted_keys(payload))
                else:
                    size = len(data) if op == "GET" else _body_size(request) if op == "PUT" else 0
                    log.append(S3Request(op, bucket, key, size, int(status)))
            return AWSResponse(request.url, status, headers, MockRawResponse(data))

        self._handler = ("before-send", record)
        # botocore calls every before-send handler and takes the first response, so moto's own stubber must
        # step aside while this one answers for it (else each request would be served twice).
        stubber_entry = ("before-send", botocore_stubber)
        position = BUILTIN_HANDLERS.index(stubber_entry) if stubber_entry in BUILTIN_HANDLERS else 0
        if stubber_entry in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.remove(stubber_entry)
        BUILTIN_HANDLERS.insert(position, self._handler)
        self._mock = mock_aws()
        self._mock.start()
        self._endpoint = IN_PROCESS_ENDPOINT

    def _stop_in_process(self) -> None:
        if MockS3Server._in_process_owner is self:
            MockS3Server._in_process_owner = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._handler is not None:
            from botocore.handlers import BUILTIN_HANDLERS
            from moto.core.models import botocore_stubber

            position = BUILTIN_HANDLERS.index(self._handler) if self._handler in BUILTIN_HANDLERS else None
            if position is not None:
                BUILTIN_HANDLERS[position] = ("before-send", botocore_stubber)
            self._handler = None
        with self._log_lock:
            self._log.clear()

    # -- what tests and the harness use ---------------------------------------------------------
    def reset(self) -> None:
        """Empty every bucket (they are deleted too) and the request log."""
        if self.in_process:
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
            self.clear_requests()
        else:
            self._control("reset")

    def requests(self, since: int = 0) -> list[S3Request]:
        """Every request served since the last reset or clear (from index ``since`` on), oldest first."""
        if self.in_process:
            with self._log_lock:
                return list(self._log[since:])
        return [S3Request.from_dict(d) for d in self._control(f"requests?since={int(since)}", "GET")]

    def stats(self) -> dict[str, int]:
        """The server's counters: ``memo_entries``, ``memo_bytes``, ``memo_hits``, ``memo_misses``,
        ``refused`` (bodies past the limit), ``handled`` and ``handle_ns`` (requests answered and the time
        spent on them, from request line to answer), ``max_object_size``, ``max_rss_bytes`` (the serving
        process's peak resident memory, ``ru_maxrss``) and ``pid``. The in-process variant has no memo and no
        HTTP front (zeros)."""
        if self.in_process:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            with self._log_lock:
                refused = self._refused
            return {
                "pid": os.getpid(), "memo_entries": 0, "memo_bytes": 0, "memo_hits": 0, "memo_misses": 0,
                "refused": refused, "handled": 0, "handle_ns": 0, "max_object_size": self.max_object_size,
                "max_rss_bytes": peak if sys.platform == "darwin" else peak * 1024,
            }
        return {str(k): int(v) for k, v in self._control("stats", "GET").items()}

    def clear_requests(self) -> None:
        """Forget the requests recorded so far."""
        if self.in_process:
            with self._log_lock:
                self._log.clear()
        else:
            self._control("clear")

    def __repr__(self) -> str:
        state = self._endpoint or "stopped"
        return f"MockS3Server({state}{', in process' if self.in_process else ''})"


def _body_size(request: Any) -> int:
    header = request.headers.get("x-amz-decoded-content-length") or request.headers.get("Content-Length")
    if header:
        return int(header)
    body = request.body
    if body is None:
        return 0
    if isinstance(body, (bytes, str)):
        return len(body)
    try:
        return len(body.getvalue())
    except AttributeError:
        return 0


def _drain(stream: Any) -> None:
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):
        pass


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The server's first stdout line, or "" if it did not come within ``timeout`` seconds."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and time.monotonic() < deadline:
        reader.join(0.05)
        if proc.poll() is not None and not reader.is_alive():
            break
    return result[0].decode("utf-8", "replace").strip() if result else ""
