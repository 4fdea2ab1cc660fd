"""Judging the weights file: ``torch.load(path, weights_only=True)`` must give a mapping of names to tensors.

Importing torch costs one to two seconds, and the script under test pays that too. So the kit never
imports torch itself: :func:`start_inspector` starts a long-lived helper process at the beginning of a
run, which imports torch while the script starts, and then answers one request per weights file over a
pipe (a JSON line in, a JSON line out). A helper that hangs or dies is killed after a timeout and
restarted for the next request; the caller gets a :class:`WeightsResult` with ``status`` "unavailable"
and a plain message, never an exception.

Run as ``python -m pie_conformance.harness.weights`` this module *is* the helper.

The files it loads are the script's, so the helper is bounded and shut away: it runs under bubblewrap
where the machine allows (no network, no file of any run: each file reaches it as a descriptor the kit
opened without following links, :func:`~pie_conformance.harness.sandbox.sandbox_helper`), sets its own
memory limit (``HELPER_MEMORY_BYTES``, ``RLIMIT_DATA``) before importing torch, and refuses a zip archive
that declares more than ``MAX_UNPACKED_BYTES`` once unpacked (a decompression bomb) without loading it. The
resume-partial scenario's changed checkpoint is made here too (:meth:`WeightsInspector.partial_checkpoint`),
so the kit itself never unpickles anything of the script's.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import stat
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
#: The helper's memory limit (RLIMIT_DATA, set before torch is imported).
HELPER_MEMORY_BYTES = 1 << 30
#: The most a weights archive may declare once unpacked; past it the file is refused unread.
MAX_UNPACKED_BYTES = 256 << 20
#: The largest changed checkpoint the helper may hand back.
MAX_PARTIAL_BYTES = 512 << 20

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
        self._sock: socket.socket | None = None
        self._boxed = False
        self._child_pid: int | None = None
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
        self._child_pid = None
        if shutil.which(self.python) is None:
            self._proc = None
            self._gave_up = f"the weights loader could not be started (no interpreter {self.python})"
            return
        from pie_conformance.harness.sandbox import sandbox_helper

        argv = [self.python, "-m", "pie_conformance.harness.weights"]
        boxed = sandbox_helper(argv)
        # Requests go over a socket (each with the descriptor of its file); answers come back on stdout.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                boxed.argv if boxed is not None else argv,
                stdin=theirs.fileno(),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=str(_PACKAGE_ROOT),
                start_new_session=True,  # a signal meant for the script's process group never reaches it
                pass_fds=boxed.pass_fds if boxed is not None else (),
            )
        except OSError as exc:
            self._proc = None
            ours.close()
            self._gave_up = f"the weights loader could not be started ({exc.strerror or exc})"
            return
        finally:
            theirs.close()
            if boxed is not None:
                for fd in boxed.pass_fds:
                    os.close(fd)
        self._sock = ours
        self._boxed = boxed is not None
        if boxed is not None:
            threading.Thread(target=self._read_status, args=(boxed.status_fd,), name="weights-status",
                             daemon=True).start()
        out = self._proc.stdout
        assert out is not None
        threading.Thread(target=_pump, args=(out, self._lines), name="weights-inspector", daemon=True).start()

    def _read_status(self, fd: int) -> None:
        """bubblewrap's status: the first line names the helper's own pid (what :attr:`pid` gives)."""
        with os.fdopen(fd, "rb") as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    d = json.loads(line)
                    if isinstance(d, dict) and isinstance(d.get("child-pid"), int):
                        self._child_pid = d["child-pid"]

    def _stop(self, *, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        if proc is None:
            return
        if kill or not self._ready:
            # A hung helper would never read the end of its input, and one still importing torch would
            # read it only after the import: the end of a short run must not wait for either.
            proc.kill()
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # a process that survives SIGKILL
                proc.wait(timeout=5.0)

    @property
    def pid(self) -> int | None:
        """The helper's process id (None when it is not running); under bubblewrap, that of the helper
        itself rather than of bubblewrap (known a moment after the start)."""
        if self._proc is None:
            return None
        deadline = time.monotonic() + 2.0
        while self._child_pid is None and self._proc.poll() is None and time.monotonic() < deadline:
            if not self._boxed:
                break
            time.sleep(0.01)
        return self._child_pid or self._proc.pid

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
        """Load ``path`` in the helper and say whether it is a mapping of names to tensors; never raises.

        The file is opened here without following a link and handed over as a descriptor: a link (or
        anything but a regular file) is never opened.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            return WeightsResult("unavailable", f"the file could not be opened without following a link "
                                                f"({exc.strerror or exc})")
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return WeightsResult("unavailable", "it is not a regular file, so it was not opened")
            reply = self._request({"op": "inspect"}, [fd], timeout)
        finally:
            os.close(fd)
        if isinstance(reply, WeightsResult):
            return reply
        return WeightsResult(
            status=str(reply.get("status", "unavailable")),
            error=reply.get("error"),
            tensors=int(reply.get("tensors", 0)),
            digest=reply.get("digest"),
            found=reply.get("found"),
        )

    def partial_checkpoint(self, data: bytes, *, timeout: float | None = None) -> tuple[bytes, str] | None:
        """``data`` (a state dict's bytes) with one tensor of another shape, and a note saying which, made in
        the helper (see :func:`reshape_one_tensor`); None when ``data`` is
        not such a state dict or the helper cannot answer."""
        src = os.memfd_create("pie-check-weights", os.MFD_CLOEXEC)
        out = os.memfd_create("pie-check-partial", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(src, view):]
            os.lseek(src, 0, os.SEEK_SET)
            reply = self._request({"op": "partial"}, [src, out], timeout)
            if isinstance(reply, WeightsResult) or not isinstance(reply.get("note"), str):
                return None
            size = os.fstat(out).st_size
            if size > MAX_PARTIAL_BYTES:
                return None
            chunks, got = [], 0
            while got < size:
                chunk = os.pread(out, min(1 << 20, size - got), got)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
            return b"".join(chunks), reply["note"]
        except OSError:
            return None
        finally:
            os.close(src)
            os.close(out)

    def _request(self, request: dict[str, Any], fds: list[int],
                 timeout: float | None) -> dict[str, Any] | WeightsResult:
        """Send one request with its descriptors and wait for its answer (a WeightsResult when none)."""
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
            message = json.dumps({"id": self._next_id, **request}).encode("utf-8")
            try:
                assert self._sock is not None
                socket.send_fds(self._sock, [message], fds)
            except (OSError, ValueError, AssertionError):
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
                return reply


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


def _unpacked_size(f: IO[bytes]) -> int | None:
    """What a zip archive (torch.save's format) declares its members to hold once unpacked (None: no zip)."""
    import zipfile

    try:
        if not zipfile.is_zipfile(f):
            return None
        with zipfile.ZipFile(f) as z:
            return sum(max(0, i.file_size) for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    finally:
        f.seek(0)


def _load(torch: Any, f: IO[bytes]) -> Any:
    """torch.load(weights_only=True) of an open file, refusing a decompression bomb unread."""
    declared = _unpacked_size(f)
    if declared is not None and declared > MAX_UNPACKED_BYTES:
        raise _TooLarge(f"it declares {declared:,} bytes once unpacked, over the {MAX_UNPACKED_BYTES:,} the "
                        "kit loads (a decompression bomb?); it was not loaded")
    return torch.load(f, weights_only=True, map_location="cpu")


class _TooLarge(Exception):
    """A weights file the helper refuses to load because of its declared size."""


def _judge(torch: Any, f: IO[bytes]) -> dict[str, Any]:
    """Load one file with weights_only=True and judge it as a state dict (runs in the helper)."""
    import hashlib
    import re
    from collections.abc import Mapping

    try:
        if os.fstat(f.fileno()).st_size == 0:
            return {"status": "invalid", "error": "the file is empty (0 bytes)", "found": "nothing"}
        obj = _load(torch, f)
    except _TooLarge as exc:
        return {"status": "invalid", "error": str(exc), "found": "a decompression bomb"}
    except MemoryError:
        return {"status": "invalid", "error": f"loading it needs more than the {HELPER_MEMORY_BYTES:,} bytes "
                "of memory the kit's loader may use", "found": "too large to load"}
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


def reshape_one_tensor(torch: Any, state: Any) -> tuple[dict[Any, Any], str] | None:
    """A copy of a state dict in which one tensor has another shape, and a note saying which.

    The tensor chosen is the first (by name) floating-point one with at least one dimension; its first
    dimension grows by one. None when ``state`` is not a state dict with such a tensor.
    """
    if not isinstance(state, dict):
        return None
    for name in sorted(k for k in state if isinstance(k, str)):
        t = state[name]
        if isinstance(t, torch.Tensor) and t.dim() >= 1 and t.is_floating_point():
            shape = (t.shape[0] + 1, *t.shape[1:])
            changed = dict(state)
            changed[name] = torch.zeros(shape, dtype=t.dtype)
            return changed, f"tensor {name!r} has shape {list(shape)} instead of {list(t.shape)}"
    return None


def _partial(torch: Any, src: IO[bytes], out: int) -> dict[str, Any]:
    """Write the resume-partial checkpoint of ``src`` to ``out``: one tensor's first dimension one larger."""
    import io

    try:
        reshaped = reshape_one_tensor(torch, _load(torch, src))
    except Exception:
        return {"none": True}
    if reshaped is None:
        return {"none": True}
    changed, note = reshaped
    buf = io.BytesIO()
    torch.save(changed, buf)
    view = buf.getbuffer()
    while view:
        view = view[os.write(out, view):]
    return {"note": note}


def _limit_self() -> None:
    """The helper's own bounds, set before torch is imported: memory, file size, no core dump."""
    import resource

    bounds = ((resource.RLIMIT_DATA, HELPER_MEMORY_BYTES), (resource.RLIMIT_FSIZE, MAX_PARTIAL_BYTES),
              (resource.RLIMIT_CORE, 0))
    for which, value in bounds:
        with contextlib.suppress(OSError, ValueError):
            _soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))


def _serve() -> None:
    """The helper's main loop: import torch, then answer each request (a message with its descriptors)."""
    _limit_self()
    out = sys.stdout
    # Anything torch or a library prints must not corrupt the protocol: answers go to the real
    # stdout, everything else to stderr (discarded by the parent).
    sys.stdout = sys.stderr
    requests = socket.socket(fileno=0)
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
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(requests, 65536, 2)
        except OSError:
            return
        if not msg:
            return  # the kit has gone
        req_id: Any = None
        reply: dict[str, Any]
        try:
            req = json.loads(msg)
            req_id = req.get("id")
            if torch is None:
                reply = {"status": "unavailable"}
            elif req.get("op") == "partial" and len(fds) == 2:
                with os.fdopen(os.dup(fds[0]), "rb") as src:
                    reply = _partial(torch, src, fds[1])
            elif fds:
                with os.fdopen(os.dup(fds[0]), "rb") as f:
                    reply = _judge(torch, f)
            else:
                reply = {"status": "unavailable", "error": "the request came without its file"}
        except Exception as exc:
            reply = {"status": "unavailable", "error": f"the weights loader failed ({exc})"}
        finally:
            for fd in fds:
                os.close(fd)
        reply["id"] = req_id
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    _serve()
