"""The sandbox launcher: starts the script as its child, with the run's limits, and ends with its status.

Started by the kit as ``python -I -S _launch.py CONFIG -- python train.py``. Standard library only: it runs
before anything of the kit can be imported, and inside the OS-level sandbox nothing else is there.

``os`` mode (inside bubblewrap, as PID 1 of the sandbox's PID namespace, every capability dropped, the kit's
seccomp filter in force): it makes itself non-dumpable (the script, though it runs as the same user, can
neither trace it nor open its descriptors), connects to the kit's control socket, listens on the mock S3's
port on the namespace's loopback, and forks the script. The child sets the rlimits, installs the filter
that shows the kit every ``connect`` and every write to a path (``notify_bpf``), hands the kit the
listening socket and that filter's listener over the control socket, closes both and becomes the script.
The kit accepts and forwards the script's connections to the mock itself, outside the sandbox. The
launcher reaps every process, reports the script's exact wait status on the control socket (which the
script never holds) and exits with its exit code; when it ends, the kernel ends every process left in the
namespace.

``guard`` mode (no namespaces): it joins the run's pids cgroup, becomes a child subreaper (a daemon's double
fork stays its descendant), forks the script with the rlimits set, counts the script's processes where no
cgroup bounds them, kills every descendant left when the script ends, writes what it set up to
``setup_file``, and ends with the script's own status (dying of the same signal). Nothing here is out of the
script's reach: the guard level is not a security boundary.
"""

import contextlib
import ctypes
import json
import os
import resource
import socket
import sys

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
WATCH_INTERVAL = 0.25  # seconds between counts of the script's processes, where no cgroup bounds them

_libc = ctypes.CDLL(None, use_errno=True)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _err(what):
    return f"{what}: {os.strerror(ctypes.get_errno())}"


def _limit(which, value):
    if not value:
        return
    _soft, hard = resource.getrlimit(which)
    value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
    resource.setrlimit(which, (value, value))


def _set_limits(cfg, setup):
    for name, which in (("memory", resource.RLIMIT_DATA), ("file_size", resource.RLIMIT_FSIZE),
                        ("open_files", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        try:
            _limit(which, cfg.get(name))
        except (OSError, ValueError) as exc:
            setup[f"limit {name}"] = str(exc)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _exec(argv):
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"pie-check sandbox: cannot start {argv[0]}: {exc.strerror or exc}\n".encode())
    os._exit(127)


def _exit_code(status):
    rc = os.waitstatus_to_exitcode(status)
    return rc if rc >= 0 else 128 - rc


# -- os mode ------------------------------------------------------------------------------------------------
def _install_notify(cfg):
    """The filter that shows the kit every connect and write; its listener's descriptor."""
    code = bytes.fromhex(cfg["notify_bpf"])
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    fd = _libc.syscall(ctypes.c_long(int(cfg["seccomp_nr"])), ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
                       ctypes.c_uint(SECCOMP_FILTER_FLAG_NEW_LISTENER), ctypes.byref(prog))
    if fd < 0:
        raise OSError(_err("seccomp"))
    return fd


def _os_child(cfg, argv, control, listener):
    setup = {}
    _set_limits(cfg, setup)
    fds = []
    if listener is not None:
        fds.append(listener.fileno())
        setup["forwarder"] = "ok"
    notify = None
    if cfg.get("notify_bpf"):
        try:
            notify = _install_notify(cfg)
            fds.append(notify)
            setup["call watch"] = "ok"
        except OSError as exc:
            setup["call watch"] = str(exc)
    if control is not None:
        msg = json.dumps({"op": "setup", "listener": listener is not None, "notify": notify is not None,
                          **setup}).encode() + b"\n"
        try:
            socket.send_fds(control, [msg], fds)
            # The kit answers once it holds the descriptors: the script's first connect is then watched.
            control.recv(1)
        except OSError:
            pass
        control.close()
    if listener is not None:
        listener.close()
    if notify is not None:
        os.close(notify)
    _exec(argv)


def _main_os(cfg, argv):
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    control = None
    try:
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.connect(cfg["control"])
    except OSError:
        control = None
    listener = None
    if cfg.get("port"):
        try:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", int(cfg["port"])))
            listener.listen(128)
        except OSError:
            listener = None
    pid = os.fork()
    if pid == 0:
        _os_child(cfg, argv, control, listener)
    if listener is not None:
        listener.close()
    # PID 1 of the namespace: every orphan comes here and is reaped; the script's own end ends the run.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
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
    if control is not None:
        with contextlib.suppress(OSError):
            control.sendall(json.dumps({"op": "exit", "status": status}).encode() + b"\n")
    os._exit(_exit_code(status))


# -- guard mode ---------------------------------------------------------------------------------------------
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


def _watch(limit, state):
    """Where no cgroup bounds processes: count the script's, and end them all past ``limit``."""
    import time

    while not state.get("done"):
        time.sleep(WATCH_INTERVAL)
        n = len(_descendants(os.getpid()))
        if n > limit:
            state["exceeded"] = n
            _kill_descendants()
            return


def _main_guard(cfg, argv):
    import signal
    import threading

    setup = {}
    if cfg.get("cgroup"):
        try:
            with open(os.path.join(cfg["cgroup"], "cgroup.procs"), "w") as f:
                f.write("0\n")
            setup["cgroup"] = "ok"
        except OSError as exc:
            setup["cgroup"] = str(exc)
    # Orphans of the script (a daemon's double fork) are re-parented here rather than to init, so they stay
    # descendants: counted, and killed at the end.
    setup["subreaper"] = "ok" if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 else _err("prctl")
    pid = os.fork()
    if pid == 0:
        child_setup = {}
        _set_limits(cfg, child_setup)
        for key, value in child_setup.items():
            os.write(2, f"pie-check sandbox: cannot set {key}: {value}\n".encode())
        _exec(argv)
    # The launcher keeps none of the script's descriptors: its stdout/stderr end when the script's do.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.closerange(3, 1024)
    state = {}
    if not cfg.get("cgroup") and cfg.get("processes"):
        threading.Thread(target=_watch, args=(int(cfg["processes"]), state), daemon=True).start()
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
    state["done"] = True
    _kill_descendants()
    if "exceeded" in state:
        setup["processes_exceeded"] = state["exceeded"]
    if cfg.get("setup_file"):
        with contextlib.suppress(OSError), open(cfg["setup_file"], "w") as f:
            json.dump(setup, f)
    rc = os.waitstatus_to_exitcode(status)
    if rc < 0:  # die of the same signal, so that the kit's own wait sees the script's status
        if -rc not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught, nor need resetting
            with contextlib.suppress(OSError, ValueError):
                signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    os._exit(rc if rc >= 0 else 128 - rc)


def main():
    cfg = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    if cfg.get("mode") == "os":
        _main_os(cfg, argv)
    else:
        _main_guard(cfg, argv)


if __name__ == "__main__":
    main()
