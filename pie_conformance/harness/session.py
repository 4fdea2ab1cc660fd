"""The data side of a check: the synthetic dataset and the mock S3 that serves it, for the check's lifetime.

A :class:`DataSession` starts the mock S3 in the background on a port chosen at once, so that the first run
of the script can start while the server is still coming up (the script's first connection waits at the
gate). Before each run it resets the bucket to the dataset (plus the run's extra objects, e.g. the resume
weights), so every scenario starts from an unchanged dataset. A port taken meanwhile makes the server
restart on a free one; the run that was waiting for it then starts again (:class:`PortTaken`).
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from pie_conformance.datasets import Dataset, DatasetSpec, generate
from pie_conformance.s3 import BUCKET, DatasetStore, MockS3Server, aiutils_env

__all__ = ["DataSession", "PortTaken"]


class PortTaken(Exception):
    """The mock S3 could not use the port chosen in advance; it was restarted on a free one."""


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the mock S3 binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _in_background(stop: Callable[[], None]) -> None:
    """Stop a helper process without waiting for it: the report does not depend on its last breath (the
    mock S3 leaves on its own when its stdin closes, so it does not outlive this process)."""
    threading.Thread(target=stop, name="pie-check-stop", daemon=True).start()


class DataSession:
    """The dataset of a check and the mock S3 serving it; use as a context manager."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.bucket = BUCKET
        self._servers: list[MockS3Server] = []
        self._launch(_free_port())
        self.use_dataset(generate(spec))
        self._pending: dict[str, bytes] | None = None

    # -- lifetime ------------------------------------------------------------------------------------
    def __enter__(self) -> DataSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop every server this session started (in the background)."""
        for server in self._servers:
            _in_background(server.stop)
        self._servers = []

    def _launch(self, port: int) -> None:
        server = MockS3Server(port=port)
        failure: list[BaseException] = []

        def start() -> None:
            try:
                server.start()
            except BaseException as exc:  # re-raised by wait(), in the thread that needs the server
                failure.append(exc)

        self._starter = threading.Thread(target=start, daemon=True)
        self._starter.start()
        self._failure = failure
        self._servers.append(server)
        self.server = server
        self.endpoint = f"http://127.0.0.1:{port}" if port else ""
        self._ready = False

    def wait(self) -> None:
        """Block until the server answers; a port taken meanwhile restarts it on a free one (PortTaken)."""
        if self._ready:
            return
        self._starter.join()
        if self._failure:
            exc = self._failure[0]
            if self.endpoint and "did not start" in str(exc):
                self._launch(0)
                self.wait()
                raise PortTaken(str(exc)) from exc
            raise exc
        self.endpoint = self.server.endpoint_url
        self.store = DatasetStore(self.endpoint)
        self._ready = True

    @property
    def ready(self) -> bool:
        """True once the server has answered."""
        return self._ready

    # -- the data ------------------------------------------------------------------------------------
    def use_dataset(self, ds: Dataset) -> None:
        """Serve ``ds`` from the next reset on (the exploration's per-example datasets)."""
        self.ds = ds
        self.served_digests = frozenset(hashlib.sha256(b).hexdigest() for b in ds.files.values())

    def reset(self, extra: Mapping[str, bytes] = {}) -> None:  # noqa: B006 - read only
        """Ask for a fresh bucket holding the dataset (and ``extra`` objects) before the next run opens it."""
        self._pending = dict(extra)
        self.served_digests = self.served_digests | {hashlib.sha256(b).hexdigest() for b in extra.values()}

    def open(self) -> tuple[int, dict[str, str]]:
        """Apply the pending reset (waiting for the server); returns the request count and the dataset's
        fingerprint before the run, so the run's own requests and changes can be told apart."""
        self.wait()
        if self._pending is not None:
            extra, self._pending = self._pending, None
            self.server.reset()
            self.store.upload(self.ds)
            for key, data in extra.items():
                self.store.put_object(key, data)
        return len(self.server.requests()), self.store.fingerprint(self.ds.prefix)

    def requests_since(self, n: int) -> list[Any]:
        """The requests the server logged after the first ``n``."""
        return list(self.server.requests(since=n))

    def fingerprint(self) -> dict[str, str]:
        """Key -> digest of every object under the dataset's prefix, now."""
        return self.store.fingerprint(self.ds.prefix)

    def aiutils_env(self, *, notebook: bool = False) -> dict[str, str]:
        """The environment the compatible aiUtils reads (endpoint, keys, dataset registry)."""
        registry = {self.ds.dataset_id: f"s3://{self.bucket}/{self.ds.prefix}"}
        # A traincfg with dataset_id "" is the platform's notebook: the id comes from AI_DATASET_ID.
        env = dict(aiutils_env(self.endpoint, registry=registry,
                               dataset_id=self.ds.dataset_id if notebook else None))
        env.pop("PYTHONPATH", None)  # the kit sets its own, without the caller's PYTHONPATH
        return env
