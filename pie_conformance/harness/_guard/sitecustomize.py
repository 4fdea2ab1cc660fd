"""The kit's guard inside the script's interpreter: maps ``/output``, and at the guard level refuses and
records connections and writes.

Python imports ``sitecustomize`` from ``PYTHONPATH`` at start-up; the kit puts this folder first, and this
module then loads the kit's probe (``PIE_GUARD_NEXT``) so both run. Its variables stay in the environment,
so the Python interpreters the script starts behave the same. ``PIE_GUARD_MODE`` says what it does:

- ``redirect`` (``--sandbox none``): only ``/output`` is mapped onto the run's ``output/``
  (``PIE_GUARD_OUTPUT``), since the guide's prose writes there and the platform collects it: paths under
  ``/output`` given to ``open``, ``io.open``, ``os.open``, the ``os`` file calls (``stat``, ``mkdir`` and so
  ``os.makedirs``, ``listdir``, ``scandir``, ``remove``, ``rename``, ...) and so ``shutil``, ``pathlib``,
  Pillow's ``save`` and numpy, and ``torch.save``/``torch.load`` and ``cv2.imwrite``/``cv2.imread`` (patched
  when those modules are imported) are rewritten. C code that opens paths on its own is not.
- ``guard`` (no OS-level isolation): the same, and it refuses and records network connections and writes
  made through Python:
  ``socket.connect``/``connect_ex``/``sendto`` to an internet address other than the mock S3
  (``PIE_GUARD_ALLOW``), and ``getaddrinfo`` of a name that is not local, raise (RUN003); ``open`` in a
  writing mode and the ``os`` calls that write, aimed (after following links) outside the run folder
  (``PIE_GUARD_ROOT``), raise PermissionError (RUN007). Detection, not a jail: ``ctypes``, a C extension or
  another program bypass it, and the script can write the log (``PIE_GUARD_LOG``) itself.

At the OS level (bubblewrap) the guard is not installed: ``/output`` is a bind mount, the kernel refuses, and
the kit watches the script's calls from outside.
"""

import builtins
import contextlib
import errno
import io
import json
import os
import socket
import stat
import sys

_mode = os.environ.get("PIE_GUARD_MODE", "guard")
_log_path = os.environ.get("PIE_GUARD_LOG")
_root = os.environ.get("PIE_GUARD_ROOT", "")
_allow = os.environ.get("PIE_GUARD_ALLOW", "")
_output = os.environ.get("PIE_GUARD_OUTPUT")
_next = os.environ.pop("PIE_GUARD_NEXT", None)
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost", ""}

_real_open = builtins.open
_real_io_open = io.open
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
            os.write(fd, line.encode("utf-8", errors="surrogateescape"))
        finally:
            os.close(fd)
    except OSError:
        pass


# -- /output ------------------------------------------------------------------------------------------------
def _mapped(path):
    """``path`` with a leading ``/output`` replaced by the run's output folder (other paths unchanged)."""
    if _output is None or isinstance(path, int):
        return path
    try:
        raw = os.fspath(path)
    except TypeError:
        return path
    is_bytes = isinstance(raw, bytes)
    text = os.fsdecode(raw) if is_bytes else raw
    if not text.startswith("/output"):
        return path
    norm = os.path.normpath(text)
    if norm != "/output" and not norm.startswith("/output/"):
        return path
    out = _output + norm[len("/output"):]
    return os.fsencode(out) if is_bytes else out


# -- network (guard mode) -----------------------------------------------------------------------------------
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


# -- files --------------------------------------------------------------------------------------------------
_roots = [os.path.realpath(r) for r in _root.split(os.pathsep) if r]


def _under_roots(real):
    return any(real == r or real.startswith(r.rstrip("/") + "/") for r in _roots)


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
    if _under_roots(real) or real == "/proc" or real.startswith("/proc/"):
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


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
#: The os calls that write, and which of their arguments are paths written (the others are only mapped).
_WRITES = {"mkdir": (0,), "rename": (0, 1), "replace": (0, 1), "remove": (0,), "unlink": (0,),
           "rmdir": (0,), "symlink": (1,), "link": (1,), "truncate": (0,), "chmod": (0,), "utime": (0,)}
_READS = ("stat", "lstat", "access", "listdir", "scandir", "readlink", "chdir")


def _install_files(refuse):
    def check(path, call, follow=True):
        if refuse:
            real = _outside(path, follow)
            if real is not None:
                raise _deny(real, call)

    def guarded_open(file, mode="r", *args, **kwargs):
        file = _mapped(file)
        if _writing(mode):
            check(file, f"open({mode})")
        return _real_io_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        path = _mapped(path) if kwargs.get("dir_fd") is None else path
        if flags & _WRITE_FLAGS and kwargs.get("dir_fd") is None:
            check(path, "os.open")
        return _real_os_open(path, flags, *args, **kwargs)

    def wrap(name, fn, written):
        # symlink(target, link): the target is text kept in the link, only the link is a path
        paths = {"rename": (0, 1), "replace": (0, 1), "link": (0, 1), "symlink": (1,)}.get(name, (0,))

        def guarded(*args, **kwargs):
            if not any(kwargs.get(k) is not None for k in ("dir_fd", "src_dir_fd", "dst_dir_fd")):
                args = tuple(_mapped(a) if i in paths else a for i, a in enumerate(args))
                for i in written:
                    if i < len(args):
                        # Removing or renaming a link acts on the link itself, not on what it points at.
                        follow = name in ("mkdir", "truncate", "chmod", "utime")
                        check(args[i], f"os.{name}", follow=follow)
            return fn(*args, **kwargs)

        guarded.__name__ = name
        guarded.__doc__ = fn.__doc__
        return guarded

    for name, written in _WRITES.items():
        if hasattr(os, name):
            setattr(os, name, wrap(name, getattr(os, name), written))
    if _output is not None:
        for name in _READS:
            if hasattr(os, name):
                setattr(os, name, wrap(name, getattr(os, name), ()))
    builtins.open = guarded_open
    io.open = guarded_open
    os.open = guarded_os_open


# -- /output in the libraries that open paths in C ----------------------------------------------------------
def _map_first(fn):
    def mapped(f, *args, **kwargs):
        return fn(_mapped(f), *args, **kwargs)

    mapped.__name__ = getattr(fn, "__name__", "mapped")
    mapped.__doc__ = getattr(fn, "__doc__", None)
    mapped.__wrapped__ = fn
    return mapped


def _patch_torch(torch):
    ser = getattr(torch, "serialization", None)
    load, save = getattr(torch, "load", None), getattr(torch, "save", None)
    if load is not None and not hasattr(load, "__wrapped__"):
        torch.load = _map_first(load)
        if ser is not None:
            ser.load = torch.load
    if save is not None and not hasattr(save, "__wrapped__"):

        def torch_save(obj, f, *args, **kwargs):  # the object comes first, the path second
            return save(obj, _mapped(f), *args, **kwargs)

        torch_save.__wrapped__ = save
        torch_save.__doc__ = save.__doc__
        torch.save = torch_save
        if ser is not None:
            ser.save = torch_save


def _patch_cv2(cv2):
    for name in ("imwrite", "imread", "imwritemulti", "imreadmulti"):
        fn = getattr(cv2, name, None)
        if fn is not None:
            setattr(cv2, name, _map_first(fn))


_PATCHERS = {"torch": _patch_torch, "cv2": _patch_cv2}


class _PatchOnImport:
    """A meta-path finder that lets the real one load ``torch``/``cv2``, then maps ``/output`` in them."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _PATCHERS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        real_exec = loader.exec_module

        def exec_module(module):
            real_exec(module)
            with contextlib.suppress(Exception):  # never stop a library from importing
                _PATCHERS[fullname](sys.modules.get(fullname, module))

        loader.exec_module = exec_module
        return spec


def _install():
    if _mode == "guard":
        _install_network()
    if _mode in ("guard", "redirect"):
        _install_files(refuse=_mode == "guard")
    if _output is not None:
        sys.meta_path.insert(0, _PatchOnImport())


try:
    _install()
except Exception as exc:  # the guard must never stop a script from starting
    sys.stderr.write(f"pie-check sandbox: the guard could not be installed: {exc}\n")

if _next:
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_pie_check_probe", _next)
    if _spec is not None and _spec.loader is not None:
        _probe = importlib.util.module_from_spec(_spec)
        sys.modules["_pie_check_probe"] = _probe
        _spec.loader.exec_module(_probe)
