"""The sandbox guard inside the script's interpreter: refuses and records connections and outside writes.

Python imports ``sitecustomize`` from ``PYTHONPATH`` at start-up; the kit puts this folder first, and this
module then loads the kit's probe (``PIE_GUARD_NEXT``) so both run. Its variables stay in the environment,
so that the Python interpreters the script starts are guarded too.

- Network (RUN003): ``socket.connect``/``connect_ex``/``sendto`` to an internet address other than the mock S3
  endpoint (``PIE_GUARD_ALLOW``), and ``getaddrinfo`` of a name that is not local, raise and are recorded.
  UNIX sockets are left alone (local inter-process pipes, not network).
- Files (RUN007): ``open``/``os.open`` in a writing mode, ``os.mkdir``, ``os.rename``/``replace``,
  ``os.remove``/``unlink``/``rmdir`` and ``os.symlink`` aimed (after following links) outside the run folder
  (``PIE_GUARD_ROOT``) raise PermissionError and are recorded. Devices and /proc are allowed.

This is detection, not a jail: a C extension, ``ctypes`` or another program can bypass it. Only the OS-level
sandbox (namespaces, read-only mounts) holds against those.
"""

import builtins
import errno
import io
import json
import os
import socket
import stat
import sys

# Left in the environment (unlike the probe's): a Python interpreter the script starts (a data-loader worker
# started with "spawn", a subprocess) is guarded as well. Only the probe is for this process alone.
_log_path = os.environ.get("PIE_GUARD_LOG")
_root = os.environ.get("PIE_GUARD_ROOT")
_allow = os.environ.get("PIE_GUARD_ALLOW", "")
_next = os.environ.pop("PIE_GUARD_NEXT", None)
_extra_root = os.environ.get("PIE_GUARD_EXTRA_ROOT")
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost", ""}

_real_open = builtins.open
_real_os_open = os.open
_recorded: set = set()


def _record(kind, target, call):
    key = (kind, target, call)
    if key in _recorded or _log_path is None or len(_recorded) > 1000:
        return
    _recorded.add(key)
    line = json.dumps({"kind": kind, "target": target, "call": call, "pid": os.getpid()}) + "\n"
    try:
        fd = _real_os_open(_log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8", errors="replace"))
        finally:
            os.close(fd)
    except OSError:
        pass


# -- network ----------------------------------------------------------------------------------------
def _allowed_address(family, address):
    if family not in (socket.AF_INET, getattr(socket, "AF_INET6", -1)):
        return True, ""
    try:
        host, port = address[0], int(address[1])
    except (TypeError, ValueError, IndexError):
        return True, ""
    shown = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    allowed = {_allow, _allow.replace("localhost", "127.0.0.1")} - {""}
    host = "127.0.0.1" if host == "localhost" else host
    return f"{host}:{port}" in allowed, shown


def _install_network():
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo

    def refuse(sock, address, call):
        ok, shown = _allowed_address(sock.family, address)
        if ok:
            return None
        _record("connect", shown, call)
        return ConnectionRefusedError(
            errno.ECONNREFUSED,
            f"pie-check sandbox: no network connection other than to the mock S3 ({_allow}); refused {shown}",
        )

    def connect(self, address):
        exc = refuse(self, address, "socket.connect")
        if exc is not None:
            raise exc
        return real_connect(self, address)

    def connect_ex(self, address):
        exc = refuse(self, address, "socket.connect_ex")
        if exc is not None:
            return errno.ECONNREFUSED
        return real_connect_ex(self, address)

    def sendto(self, data, *args):
        address = args[-1] if args else None
        if address is not None:
            exc = refuse(self, address, "socket.sendto")
            if exc is not None:
                raise exc
        return real_sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else ("" if host is None else str(host))
        if name.lower() not in _LOCAL_NAMES and not _is_ip(name):
            _record("resolve", name, "socket.getaddrinfo")
            raise socket.gaierror(socket.EAI_NONAME, f"pie-check sandbox: no name resolution ({name})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    socket.getaddrinfo = getaddrinfo


def _is_ip(name):
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, name)
            return True
        except (OSError, ValueError):
            continue
    return False


# -- files ------------------------------------------------------------------------------------------
def _compute_roots():
    roots = [os.path.realpath(_root)]
    if _extra_root:
        roots.append(os.path.realpath(_extra_root))
    return roots


def _outside(path, follow=True):
    """The resolved path when ``path`` lies outside the run folder (None: inside, a device, /proc, a fd).

    ``follow``: whether the last component is followed when it is a link (open does; unlink, rename do not).
    """
    if isinstance(path, int):
        return None
    try:
        p = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if follow:
        real = os.path.realpath(p)
    else:
        head, tail = os.path.split(os.path.abspath(p))
        real = os.path.join(os.path.realpath(head), tail)
    for r in _roots:
        if real == r or real.startswith(r.rstrip("/") + "/"):
            return None
    if real == "/proc" or real.startswith("/proc/"):
        return None
    try:
        st = os.stat(real)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return None  # /dev/null, a terminal, a fifo: not a file left on disk
    except OSError:
        pass
    return real


def _deny(real, call):
    _record("write", real, call)
    return PermissionError(
        errno.EACCES, f"pie-check sandbox: nothing may be written outside the run folder ({call})", real,
    )


def _writing(mode):
    return any(c in str(mode) for c in "wax+")


def _install_files():
    real_io_open = io.open
    names = ("mkdir", "rename", "replace", "remove", "unlink", "rmdir", "symlink", "link", "truncate")
    originals = {n: getattr(os, n) for n in names if hasattr(os, n)}

    def guarded_open(file, mode="r", *args, **kwargs):
        if _writing(mode):
            real = _outside(file)
            if real is not None:
                raise _deny(real, f"open({mode})")
        return real_io_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND) \
                and kwargs.get("dir_fd") is None:
            real = _outside(path)
            if real is not None:
                raise _deny(real, "os.open")
        return _real_os_open(path, flags, *args, **kwargs)

    def wrap(name, fn, arg_indexes):
        def guarded(*args, **kwargs):
            if not any(k in kwargs for k in ("dir_fd", "src_dir_fd", "dst_dir_fd")) or \
                    all(kwargs.get(k) is None for k in ("dir_fd", "src_dir_fd", "dst_dir_fd")):
                for i in arg_indexes:
                    if i < len(args):
                        # Removing or renaming a link acts on the link itself, not on what it points at.
                        real = _outside(args[i], follow=name in ("mkdir", "truncate"))
                        if real is not None:
                            raise _deny(real, f"os.{name}")
            return fn(*args, **kwargs)

        guarded.__name__ = name
        guarded.__doc__ = fn.__doc__
        return guarded

    which = {"mkdir": (0,), "rename": (0, 1), "replace": (0, 1), "remove": (0,), "unlink": (0,),
             "rmdir": (0,), "symlink": (1,), "link": (1,), "truncate": (0,)}
    for name, fn in originals.items():
        setattr(os, name, wrap(name, fn, which[name]))
    builtins.open = guarded_open
    io.open = guarded_open
    os.open = guarded_os_open


_roots = _compute_roots() if _root else []
if _root:
    try:
        _install_network()
        _install_files()
    except Exception as exc:  # the guard must never stop a script from starting
        sys.stderr.write(f"pie-check sandbox: the guard could not be installed: {exc}\n")

if _next:
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_pie_check_probe", _next)
    if _spec is not None and _spec.loader is not None:
        _probe = importlib.util.module_from_spec(_spec)
        sys.modules["_pie_check_probe"] = _probe
        _spec.loader.exec_module(_probe)
