"""The sandbox launcher: sets up a run's isolation, starts the script as its child, reports how it ended.

Started by the kit as ``python -I -S _launch.py CONFIG -- python train.py``, under ``unshare`` when the
machine allows namespaces (then this is PID 1 of a new PID namespace: when it ends, the kernel ends every
process left in the namespace, daemons included, and the script cannot signal anything outside it).
Standard library only: it runs before anything of the kit can be imported.

Steps: join the run's pids cgroup (a bound on processes); in the namespaces, bring loopback up, make every
file system read-only except the run folder, give a fresh /dev/shm, hide the user's home, map /output onto
the run's output/ where a /output folder exists, and listen on the mock S3's port on loopback; then fork
the script with rlimits set, forward its connections to the mock S3 (each upstream connection is made by
the kit outside the namespace and handed over as a descriptor on the control socket), reap every child,
and report the script's exit status to the kit.
"""

import contextlib
import ctypes
import fcntl
import json
import os
import resource
import socket
import struct
import sys
import threading

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 1, 2, 4, 4096, 16384
MOUNT_ATTR_RDONLY = 1
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added after the syscall tables merged)
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_CHILD_SUBREAPER = 36
WATCH_INTERVAL = 0.25  # seconds between counts of the script's processes, where no cgroup bounds them


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)


def _err(what):
    e = ctypes.get_errno()
    return f"{what}: {os.strerror(e)}"


def _mount(src, target, fstype, flags, data=None):
    res = _libc.mount(src.encode() if src else None, target.encode(), fstype.encode() if fstype else None,
                      ctypes.c_ulong(flags), data.encode() if data else None)
    if res != 0:
        raise OSError(_err(f"mount {target}"))


def _setattr(path, set_=0, clr=0, recursive=False):
    attr = _MountAttr(set_, clr, 0, 0)
    res = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                        ctypes.c_uint(AT_RECURSIVE if recursive else 0), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr)))
    if res != 0:
        raise OSError(_err(f"mount_setattr {path}"))


def _loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b"\0" * 14))


def _step(setup, name, fn, *args):
    try:
        fn(*args)
        setup[name] = "ok"
        return True
    except Exception as exc:  # each step is reported; the run goes on with what could be set up
        setup[name] = str(exc) or type(exc).__name__
        return False


def _join_cgroup(path):
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write("0\n")


def _isolate_files(cfg, setup):
    run_dir = cfg["run_dir"]
    # The run folder gets its own mount first, so that it stays writable when everything else turns
    # read-only; only then is the rest of the tree made read-only, recursively.
    if not _step(setup, "bind_run_dir", _mount, run_dir, run_dir, None, MS_BIND):
        return
    if not _step(setup, "read_only", _setattr, "/", MOUNT_ATTR_RDONLY, 0, True):
        return
    _step(setup, "run_dir_writable", _setattr, run_dir, 0, MOUNT_ATTR_RDONLY, False)
    for path in ("/proc", "/dev/pts"):
        if os.path.ismount(path):
            _step(setup, f"writable {path}", _setattr, path, 0, MOUNT_ATTR_RDONLY, False)
    if os.path.isdir("/dev/shm"):
        _step(setup, "fresh /dev/shm", _mount, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
              "size=2g,mode=1777")
    for home in cfg.get("hide") or ():
        _step(setup, f"hide {home}", _mount, "tmpfs", home, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
              "size=16k,mode=755")
    target, out = cfg.get("output_mount"), cfg.get("output_dir")
    if target and out and os.path.isdir(target):
        with contextlib.suppress(OSError):
            os.makedirs(out, exist_ok=True)
        _step(setup, f"map {target}", _mount, out, target, None, MS_BIND)


class _Control:
    """The line protocol to the kit (JSON lines up; a descriptor or "E" down for each connect request)."""

    def __init__(self, path):
        self.sock = None
        self.lock = threading.Lock()
        if path:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                self.sock = s
            except OSError:
                self.sock = None

    def send(self, msg):
        if self.sock is None:
            return
        with self.lock, contextlib.suppress(OSError):
            self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def upstream(self):
        if self.sock is None:
            return None
        with self.lock:
            try:
                self.sock.sendall(b'{"op": "connect"}\n')
                msg, fds, _flags, _addr = socket.recv_fds(self.sock, 1, 1)
            except OSError:
                return None
        if not fds:
            return None
        return socket.socket(fileno=fds[0])


def _pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                s.shutdown(how)


def _forward(listener, control):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        up = control.upstream()
        if up is None:
            conn.close()
            continue
        a = threading.Thread(target=_pump, args=(conn, up), daemon=True)
        b = threading.Thread(target=_pump, args=(up, conn), daemon=True)
        a.start()
        b.start()


def _descendants(root):
    """Pids of every live descendant of ``root``, through the parent links in /proc."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_descendants():
    import signal

    for _ in range(3):  # a process may fork while the others are being killed
        pids = _descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _watch(limit, control, state):
    """Where no cgroup bounds processes: count the script's, and end them all past ``limit``."""
    import time

    while not state.get("done"):
        time.sleep(WATCH_INTERVAL)
        n = len(_descendants(os.getpid()))
        if n > limit:
            state["exceeded"] = n
            control.send({"op": "limit", "processes": n, "max": limit})
            _kill_descendants()
            return


def _limit(which, value):
    if not value:
        return
    soft, hard = resource.getrlimit(which)
    value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
    resource.setrlimit(which, (value, value))


def _child(cfg, argv):
    try:
        _limit(resource.RLIMIT_DATA, cfg.get("memory"))
        _limit(resource.RLIMIT_FSIZE, cfg.get("file_size"))
        _limit(resource.RLIMIT_NOFILE, cfg.get("open_files"))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        os.write(2, f"pie-check sandbox: cannot set a limit: {exc}\n".encode())
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"pie-check sandbox: cannot start {argv[0]}: {exc.strerror or exc}\n".encode())
    os._exit(127)


def main():
    cfg = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    control = _Control(cfg.get("control"))
    setup = {"pid": os.getpid()}
    if cfg.get("cgroup"):
        _step(setup, "cgroup", _join_cgroup, cfg["cgroup"])
    listener = None
    if cfg.get("namespaces"):
        _step(setup, "loopback", _loopback_up)
        _isolate_files(cfg, setup)
        # The working directory was entered before the mounts: enter it again through them, or relative
        # paths would still reach the folder below the run folder's own (now read-only) mount.
        _step(setup, "chdir", os.chdir, os.getcwd())
        if cfg.get("port"):
            try:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", int(cfg["port"])))
                listener.listen(64)
                setup["forwarder"] = "ok"
            except OSError as exc:
                setup["forwarder"] = str(exc)
                listener = None
    if not cfg.get("namespaces"):
        # Orphans of the script (a daemon's double fork) are re-parented here rather than to init, so they
        # stay descendants: counted, and killed at the end.
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            setup["subreaper"] = "ok"
        else:
            setup["subreaper"] = _err("prctl")
    control.send({"op": "setup", **setup})
    pid = os.fork()
    if pid == 0:
        _child(cfg, argv)
    # The launcher keeps none of the script's descriptors: its stdout/stderr end when the script's do.
    keep = {control.sock.fileno() if control.sock else -1, listener.fileno() if listener else -1}
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    for fd in range(3, 1024):
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
    if listener is not None:
        threading.Thread(target=_forward, args=(listener, control), daemon=True).start()
    state = {}
    if not cfg.get("cgroup") and cfg.get("processes") and not cfg.get("namespaces"):
        threading.Thread(target=_watch, args=(int(cfg["processes"]), control, state), daemon=True).start()
    status = 0
    while True:
        try:
            done, st = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if done == pid:
            status = st
            break
    rc = os.waitstatus_to_exitcode(status)
    state["done"] = True
    control.send({"op": "exit", "returncode": rc})
    if os.getpid() != 1:  # PID 1 needs not: the kernel ends its namespace with it
        _kill_descendants()
    if rc < 0 and os.getpid() != 1:
        import signal

        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    os._exit(rc if rc >= 0 else 128 - rc)


if __name__ == "__main__":
    main()
