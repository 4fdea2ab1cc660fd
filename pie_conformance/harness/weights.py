"""Judging the weights file: ``torch.load(path, weights_only=True)`` must give a mapping of names to tensors.

Importing torch costs one to two seconds, and the script under test pays that too. So the kit never
imports torch itself: :func:`start_inspector` starts a long-lived helper process at the beginning of a
run, which imports torch while the script starts, and then answers one request per weights file over a
pipe (a JSON line in, a JSON line out). A helper that hangs or dies is killed after a timeout and
restarted for the next request; the caller gets a :class:`WeightsResult` with ``status`` "unavailable"
and a plain message, never an exception.

Run as ``python -m pie_conformance.harness.weights`` this module *is* the helper.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from pie_conformance.facts import WeightsResult

__all__ = [
    "WeightsInspector",
    "WeightsResult",
    "start_inspector",
]

#: Seconds the helper may take to import torch before its first answer is given up on.
STARTUP_TIMEOUT = 60.0
#: Seconds one weights file may take to load and digest.
REQUEST_TIMEOUT = 60.0
#: How many times a dead or hung helper is restarted before the inspector gives up for the run.
MAX_RESTARTS = 2

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class WeightsInspector:
    """A helper process that loads weights files with ``weights_only=True`` and reports on them.

    Thread-safe; one request at a time. Start it early (:func:`start_inspector`), call
    :meth:`inspect` for each file, and :meth:`close` it at the end of the run.
    """

    def __init__(
        self,
        *,
        python: str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        """Start the helper now (it imports torch in the background); ``python`` defaults to this one."""
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self.max_restarts = max_restarts
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._ready = False
        self._starts = 0
        self._closed = False
        self._gave_up: str | None = None
        self._next_id = 0
        self._start()

    # -- process management -------------------------------------------------------------------------

    def _start(self) -> None:
        env = dict(os.environ)
        # The helper never needs a GPU; hiding them keeps the torch import fast and GPU memory untouched.
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["OMP_NUM_THREADS"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        self._lines = queue.Queue()
        self._ready = False
        self._starts += 1
        try:
            self._proc = subprocess.Popen(
                [self.python, "-m", "pie_conformance.harness.weights"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=str(_PACKAGE_ROOT),
                start_new_session=True,  # a signal meant for the script's process group never reaches it
            )
        except OSError as exc:
            self._proc = None
            self._gave_up = f"the weights loader could not be started ({exc.strerror or exc})"
            return
        out = self._proc.stdout
        assert out is not None
        threading.Thread(target=_pump, args=(out, self._lines), name="weights-inspector", daemon=True).start()

    def _stop(self, *, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if kill or not self._ready:
            # A hung helper would never read the end of its input, and one still importing torch would
            # read it only after the import: the end of a short run must not wait for either.
            proc.kill()
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # a process that survives SIGKILL
                proc.wait(timeout=5.0)

    @property
    def pid(self) -> int | None:
        """The helper's process id (None when it is not running)."""
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        """End the helper; later calls to :meth:`inspect` answer "unavailable"."""
        with self._lock:
            self._closed = True
            self._stop()

    def __enter__(self) -> WeightsInspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten inspector must not leave a process behind
        with contextlib.suppress(Exception):
            self._stop()

    # -- requests -------------------------------------------------------------------------------------

    def _readline(self, deadline: float) -> bytes | None:
        """The helper's next line; ``b""`` when its output ended, None when the deadline passed."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self._lines.put(None)  # keep the end visible to later reads
                return b""
            if line.strip():
                return line

    def inspect(self, path: str | Path, *, timeout: float | None = None) -> WeightsResult:
        """Load ``path`` in the helper and say whether it is a mapping of names to tensors; never raises."""
        with self._lock:
            if self._closed:
                return WeightsResult("unavailable", "the weights loader was already closed")
            if self._proc is None or self._proc.poll() is not None:
                if self._gave_up is None and self._starts <= self.max_restarts:
                    self._start()
                elif self._gave_up is None:
                    self._gave_up = "the weights loader stopped working earlier in this run"
            if self._gave_up is not None or self._proc is None:
                return WeightsResult("unavailable", self._gave_up)
            budget = self.request_timeout if timeout is None else timeout
            started = time.monotonic()
            deadline = started + budget + (0.0 if self._ready else self.startup_timeout)
            self._next_id += 1
            request = json.dumps({"id": self._next_id, "path": str(Path(path).resolve())}) + "\n"
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(request.encode("utf-8"))
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._stop()
                return WeightsResult("unavailable", "the weights loader ended unexpectedly")
            while True:
                line = self._readline(deadline)
                if not line:
                    waited = time.monotonic() - started
                    ended = line is not None
                    self._stop(kill=True)
                    if ended:
                        return WeightsResult("unavailable", "the weights loader crashed loading this file")
                    return WeightsResult(
                        "unavailable",
                        f"the weights loader did not answer within {budget:g} s "
                        f"(it was stopped after {waited:.1f} s)",
                    )
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue  # not ours (a library printing to stdout): skip it
                if not isinstance(reply, dict):
                    continue
                if reply.get("ready"):
                    self._ready = True
                    if reply.get("error"):
                        # torch is missing or broken: nothing this run can fix, so stop asking.
                        self._gave_up = str(reply["error"])
                        self._stop()
                        return WeightsResult("unavailable", self._gave_up)
                    continue
                if reply.get("id") != self._next_id:
                    continue
                return WeightsResult(
                    status=str(reply.get("status", "unavailable")),
                    error=reply.get("error"),
                    tensors=int(reply.get("tensors", 0)),
                    digest=reply.get("digest"),
                    found=reply.get("found"),
                )


def _pump(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    """Move the helper's stdout lines into a queue so that reads can time out."""
    try:
        for line in iter(stream.readline, b""):
            lines.put(line)
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)


def start_inspector(*, python: str | None = None, **kwargs: Any) -> WeightsInspector:
    """Start a weights inspector when a run begins (returns at once; torch loads in the background)."""
    return WeightsInspector(python=python, **kwargs)


# -- the helper side ---------------------------------------------------------------------------------


def _describe(obj: Any) -> str:
    """A short name for what a loaded object is, for messages."""
    kind = type(obj)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return name


def _judge(torch: Any, path: str) -> dict[str, Any]:
    """Load one file with weights_only=True and judge it as a state dict (runs in the helper)."""
    import hashlib
    import re
    from collections.abc import Mapping

    try:
        if os.path.getsize(path) == 0:
            return {"status": "invalid", "error": "the file is empty (0 bytes)", "found": "nothing"}
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # every failure of torch.load is a verdict on the file
        text = str(exc)
        glob = re.search(r"GLOBAL ([\w.]+)", text)
        if glob:
            return {
                "status": "invalid",
                "error": f"torch.load(weights_only=True) refused it: it holds a pickled {glob.group(1)}",
                "found": f"pickled {glob.group(1)}",
            }
        first = text.strip().splitlines()[0][:200] if text.strip() else ""
        detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        return {
            "status": "invalid",
            "error": f"torch.load(weights_only=True) cannot read it as a torch.save file ({detail})",
            "found": "unreadable bytes",
        }
    if not isinstance(obj, Mapping):
        return {
            "status": "invalid",
            "error": f"it loads as {_describe(obj)}, not a mapping of names to tensors",
            "found": _describe(obj),
        }
    bad = [(k, v) for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        shown = ", ".join(f"{k!r}: {_describe(v)}" for k, v in bad[:4])
        more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
        nested = any(isinstance(v, Mapping) for _, v in bad)
        return {
            "status": "invalid",
            "error": (
                f"it loads as a mapping with {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} that "
                f"{'is' if len(bad) == 1 else 'are'} not a name and a tensor ({shown}{more})"
            ),
            "found": "a checkpoint dict" if nested else "a mapping of non-tensors",
        }
    if not obj:
        return {"status": "invalid", "error": "it loads as an empty mapping (no tensors)", "found": "{}"}
    digest = hashlib.sha256()
    for name in sorted(obj):
        t = obj[name].detach()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        try:
            data = t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
            digest.update(memoryview(data))
        except Exception:  # sparse, quantized or other exotic layouts: their text form still changes
            digest.update(repr(t).encode())
    return {"status": "ok", "tensors": len(obj), "digest": digest.hexdigest()}


def _serve() -> None:
    """The helper's main loop: import torch, then answer one JSON request per input line."""
    out = sys.stdout
    # Anything torch or a library prints must not corrupt the protocol: answers go to the real
    # stdout, everything else to stderr (discarded by the parent).
    sys.stdout = sys.stderr
    torch: Any = None
    try:
        import torch

        torch.set_num_threads(1)
        ready: dict[str, Any] = {"ready": True}
    except Exception as exc:
        torch = None
        ready = {"ready": True, "error": f"torch could not be imported by the weights loader ({exc})"}
    out.write(json.dumps(ready) + "\n")
    out.flush()
    for line in sys.stdin:
        req_id: Any = None
        reply: dict[str, Any]
        try:
            req = json.loads(line)
            req_id = req.get("id")
            reply = _judge(torch, str(req["path"])) if torch is not None else {"status": "unavailable"}
        except Exception as exc:
            reply = {"status": "unavailable", "error": f"the weights loader failed ({exc})"}
        reply["id"] = req_id
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    _serve()
