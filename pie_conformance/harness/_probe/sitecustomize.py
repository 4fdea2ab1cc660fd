"""The kit's probe inside the script's interpreter: GPU visibility at exit, and a pause at progress lines.

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``; the kit puts this folder there. Its
variables are removed at once, so the script's own environment and any interpreter it starts look as on the
platform.

- ``PIE_CHECK_PROBE`` names a report file written at a normal interpreter exit by the process that imported
  this module (what RUN005 needs). os._exit or a signal leave no report, which the rule accepts.
- ``PIE_CHECK_GATE_FD`` names a pipe the kit closes once the mock S3 is ready. Until then the script's first
  network connection waits (the script starts while the mock S3 is still starting, so its own start-up,
  e.g. importing torch, overlaps the kit's). The time waited is in the report, and is not the script's.
- ``PIE_CHECK_PROGRESS_FD`` names a pipe the kit writes one byte to after it has taken the snapshot of a
  progress line. stdout is replaced by an equivalent unbuffered stream that, right after writing an exact
  ``[Process: k/N]`` line, waits for that byte. The snapshot then holds exactly what was on disk when the
  line was printed, however busy the machine is: the verdict does not depend on timing.
"""

import atexit
import contextlib
import io
import json
import os
import re
import sys

_path = os.environ.pop("PIE_CHECK_PROBE", None)
_progress_fd = os.environ.pop("PIE_CHECK_PROGRESS_FD", None)
_gate_fd = os.environ.pop("PIE_CHECK_GATE_FD", None)
_gate_waited = 0.0
_pid = os.getpid()
# The same test as the kit's (harness/progress.py): only lines the kit answers may wait for an answer.
_EXACT = re.compile(rb"\[Process: [0-9]{1,9}/[0-9]{1,9}\]")
_MAX_LINE = 256


class _PausingStdout(io.RawIOBase):
    """fd 1, written through at once; waits for the kit after each exact progress line."""

    def __init__(self, ctl):
        super().__init__()
        self._ctl = ctl
        self._line = bytearray()
        self._long = False

    def writable(self):
        return True

    def fileno(self):
        return 1

    def isatty(self):
        return os.isatty(1)

    def write(self, b):
        data = bytes(b)
        view = memoryview(data)
        while view:
            n = os.write(1, view)
            view = view[n:]
        waits = 0
        for piece in data.splitlines(keepends=True):
            if piece.endswith(b"\n"):
                line = bytes(self._line) + piece[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                if not self._long and _EXACT.fullmatch(line):
                    waits += 1
                self._line.clear()
                self._long = False
            else:
                self._line += piece
                if len(self._line) > _MAX_LINE:
                    self._line.clear()
                    self._long = True
        for _ in range(waits):
            self._wait()
        return len(data)

    def _wait(self):
        if self._ctl is None or os.getpid() != _pid:  # a forked child does not wait for the kit
            return
        try:
            if not os.read(self._ctl, 1):
                self._ctl = None  # the kit has gone: never wait again
        except OSError:
            self._ctl = None


def _install_pause(fd):
    old = sys.stdout
    if old is None:
        return
    raw = _PausingStdout(fd)
    new = io.TextIOWrapper(
        raw, encoding=old.encoding, errors=old.errors, line_buffering=False, write_through=True
    )
    # Keep the old stream alive: collecting it would close fd 1.
    globals()["_old_stdout"] = old
    sys.stdout = new
    if sys.__stdout__ is old:
        sys.__stdout__ = new  # type: ignore[misc]


def _report():
    if os.getpid() != _pid:  # a forked child running the inherited handler
        return
    torch = sys.modules.get("torch")
    cuda_initialized = False
    if torch is not None:
        try:
            cuda_initialized = bool(torch.cuda.is_initialized())
        except Exception:
            cuda_initialized = False
    data = {
        "gate_wait": _gate_waited,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda_initialized": cuda_initialized,
        "torch_imported": torch is not None,
    }
    try:
        with open(_path, "w", encoding="utf-8") as f:
            json.dump(data, f)
    except OSError:
        pass


def _install_gate(fd):
    import socket
    import time

    original = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex")}
    state = {"open": False}

    def wait():
        # Every waiting thread (and forked child) reads until EOF: nothing is ever written, only closed.
        global _gate_waited
        if state["open"]:
            return
        t = time.monotonic()
        while True:
            try:
                if not os.read(fd, 64):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        if os.getpid() == _pid:
            _gate_waited += time.monotonic() - t
        state["open"] = True
        # From now on connections cost nothing extra; a wrapper installed over ours (e.g. a guard) stays.
        for name, fn in original.items():
            if getattr(socket.socket, name) is ours[name]:
                setattr(socket.socket, name, fn)

    def connect(self, address):
        wait()
        return original["connect"](self, address)

    def connect_ex(self, address):
        wait()
        return original["connect_ex"](self, address)

    ours = {"connect": connect, "connect_ex": connect_ex}
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


if _path:
    atexit.register(_report)
if _gate_fd:
    with contextlib.suppress(ValueError, OSError):
        _install_gate(int(_gate_fd))
if _progress_fd:
    with contextlib.suppress(ValueError, OSError):
        _install_pause(int(_progress_fd))
