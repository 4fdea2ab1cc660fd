"""The OS-level sandbox's seccomp filters, assembled here as classic BPF (no libseccomp), and the watch on
the script's connections that one of them makes possible.

Two programs, for the architectures whose system-call numbers are known here (x86_64, aarch64):

- :func:`deny_program`, given to bubblewrap (``--seccomp FD``) and so in force from the first instruction of
  the sandbox's launcher on: the calls a training script never needs and an escape usually does fail with
  EPERM (``mount``, ``umount2``, ``pivot_root`` and the new mount API, ``ptrace``, ``process_vm_readv``/
  ``writev``, ``pidfd_getfd``, ``unshare``, ``setns``, ``clone`` with a namespace flag, the key-ring calls,
  ``bpf``, ``perf_event_open``, ``userfaultfd``, module and kexec loading, ``TIOCSTI``); ``clone3`` fails
  with ENOSYS, so the C library falls back to ``clone``, whose flags a filter can read; a call of another
  architecture (a 32-bit ABI) kills the process, and on x86_64 the x32 numbers fail.
- :func:`notify_program`, installed by the launcher just before it starts the script
  (``SECCOMP_FILTER_FLAG_NEW_LISTENER``): every ``connect``, every ``sendto`` with an address, and every
  call that writes to a path (``open``/``openat`` for writing, ``creat``, ``openat2``, ``mkdir``, ``unlink``,
  ``rmdir``, ``rename``, ``link``, ``symlink``, ``truncate``, ``mknod`` and their ``*at`` forms) is shown to
  the kit through the listener's descriptor, which the launcher hands to the kit and the script never holds.
  :class:`CallWatch` reads the address or the path from the script's memory (a relative path against the
  caller's working folder or the folder descriptor it gave), records a connection other than to the mock
  S3 and a write outside the folders the sandbox makes writable, and lets every call go on unchanged
  (``SECCOMP_USER_NOTIF_FLAG_CONTINUE``): the namespaces and the read-only mounts decide, the watch only
  sees. A record is therefore a call the script really made, seen from outside, which it cannot forge.
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import select
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# -- classic BPF ------------------------------------------------------------------------------------------
_LD_W_ABS = 0x20
_JEQ_K, _JGE_K, _JSET_K = 0x15, 0x35, 0x45
_RET_K = 0x06

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_ALLOW = 0x7FFF0000

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little-endian hosts only).
_NR, _ARCH = 0, 4


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 16 + 8 * i + 4


_NS_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_TIOCSTI = 0x5412


@dataclass(frozen=True)
class Arch:
    """An architecture's audit number and the numbers of the calls the filters name."""

    name: str
    audit: int
    nr: dict[str, int]
    x32: bool = False  # x86_64: numbers with bit 30 set are the x32 ABI


_X86_64 = Arch("x86_64", 0xC000003E, {
    "connect": 42, "sendto": 44, "ioctl": 16, "clone": 56, "clone3": 435,
    "open": 2, "creat": 85, "openat": 257, "openat2": 437, "mkdir": 83, "mkdirat": 258, "rmdir": 84,
    "unlink": 87, "unlinkat": 263, "rename": 82, "renameat": 264, "renameat2": 316, "link": 86,
    "linkat": 265, "symlink": 88, "symlinkat": 266, "truncate": 76, "mknod": 133, "mknodat": 259,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    "unshare": 272, "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "swapon": 167,
    "swapoff": 168, "acct": 163, "quotactl": 179, "syslog": 103, "open_by_handle_at": 304,
}, x32=True)

_AARCH64 = Arch("aarch64", 0xC00000B7, {
    "connect": 203, "sendto": 206, "ioctl": 29, "clone": 220, "clone3": 435,
    "openat": 56, "openat2": 437, "mkdirat": 34, "unlinkat": 35, "renameat": 38, "renameat2": 276,
    "linkat": 37, "symlinkat": 36, "truncate": 45, "mknodat": 33,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438,
    "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    "unshare": 97, "setns": 268, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
    "perf_event_open": 241, "userfaultfd": 282, "init_module": 105, "finit_module": 273,
    "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294, "reboot": 142, "swapon": 224,
    "swapoff": 225, "acct": 89, "quotactl": 60, "syslog": 116, "open_by_handle_at": 265,
})

#: The calls refused with EPERM (beside clone with namespace flags, clone3 and TIOCSTI).
DENIED = ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "mount", "umount2", "pivot_root",
          "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
          "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
          "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
          "swapon", "swapoff", "acct", "quotactl", "syslog", "open_by_handle_at")

#: The calls that write to a path: for each, the (folder descriptor argument or None, path argument) pairs
#: it writes. open and openat are shown only with a writing flag (``_OPEN_WRITE``), the others always.
WRITES: dict[str, tuple[tuple[int | None, int], ...]] = {
    "open": ((None, 0),), "creat": ((None, 0),), "openat": ((0, 1),), "openat2": ((0, 1),),
    "mkdir": ((None, 0),), "mkdirat": ((0, 1),), "rmdir": ((None, 0),), "unlink": ((None, 0),),
    "unlinkat": ((0, 1),), "rename": ((None, 0), (None, 1)), "renameat": ((0, 1), (2, 3)),
    "renameat2": ((0, 1), (2, 3)), "link": ((None, 1),), "linkat": ((2, 3),), "symlink": ((None, 1),),
    "symlinkat": ((1, 2),), "truncate": ((None, 0),), "mknod": ((None, 0),), "mknodat": ((0, 1),),
}
_OPEN_WRITE = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND
_OPEN_FLAGS_ARG = {"open": 1, "openat": 2}
_AT_FDCWD = -100

_MACHINES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}


def native_arch() -> Arch | None:
    """This machine's architecture, if the filters know its call numbers (None: no filter here)."""
    if struct.pack("=H", 1) != b"\x01\x00":  # the argument offsets assume a little-endian host
        return None
    return _MACHINES.get(platform.machine().lower())


class _Program:
    """A BPF program with symbolic jump targets, resolved by :meth:`assemble`."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def load(self, offset: int) -> None:
        self.code.append((_LD_W_ABS, 0, 0, offset))

    def jump(self, op: int, k: int, jt: str | int, jf: str | int) -> None:
        """Jump to ``jt`` when the test holds, else to ``jf`` (labels, or 0 for the next instruction)."""
        self.code.append((op, jt, jf, k))

    def ret(self, value: int) -> None:
        self.code.append((_RET_K, 0, 0, value))

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (op, jt, jf, k) in enumerate(self.code):
            offs = []
            for target in (jt, jf):
                if isinstance(target, str):
                    off = self.labels[target] - (i + 1)
                    if not 0 <= off <= 255:
                        raise ValueError(f"BPF jump to {target} out of range ({off})")
                    offs.append(off)
                else:
                    offs.append(target)
            out += struct.pack("=HBBI", op, offs[0], offs[1], k & 0xFFFFFFFF)
        if len(self.code) > 4096:
            raise ValueError("BPF program too long")
        return bytes(out)


def deny_program(arch: Arch) -> bytes:
    """The filter bubblewrap installs (see the module's docstring)."""
    p = _Program()
    p.load(_ARCH)
    p.jump(_JEQ_K, arch.audit, 0, "kill")
    p.load(_NR)
    if arch.x32:
        p.jump(_JGE_K, 0x40000000, "eperm", 0)
    for name in DENIED:
        p.jump(_JEQ_K, arch.nr[name], "eperm", 0)
    p.jump(_JEQ_K, arch.nr["clone"], "clone", 0)
    p.jump(_JEQ_K, arch.nr["clone3"], "enosys", 0)
    p.jump(_JEQ_K, arch.nr["ioctl"], "ioctl", "allow")
    p.label("clone")
    p.load(_arg_lo(0))
    p.jump(_JSET_K, _NS_FLAGS, "eperm", "allow")
    p.label("ioctl")
    p.load(_arg_lo(1))
    p.jump(_JEQ_K, _TIOCSTI, "eperm", "allow")
    p.label("allow")
    p.ret(RET_ALLOW)
    p.label("eperm")
    p.ret(RET_ERRNO | errno.EPERM)
    p.label("enosys")
    p.ret(RET_ERRNO | errno.ENOSYS)
    p.label("kill")
    p.ret(RET_KILL_PROCESS)
    return p.assemble()


def notify_program(arch: Arch) -> bytes:
    """The filter the launcher installs with a listener: ``connect``, ``sendto`` with an address, and the
    calls that write to a path (see :data:`WRITES`)."""
    p = _Program()
    p.load(_ARCH)
    p.jump(_JEQ_K, arch.audit, 0, "allow")
    p.load(_NR)
    p.jump(_JEQ_K, arch.nr["connect"], "notify", 0)
    p.jump(_JEQ_K, arch.nr["sendto"], "sendto", 0)
    for name, arg in _OPEN_FLAGS_ARG.items():
        if name in arch.nr:
            p.jump(_JEQ_K, arch.nr[name], f"flags{arg}", 0)
    for name in WRITES:
        if name in arch.nr and name not in _OPEN_FLAGS_ARG:
            p.jump(_JEQ_K, arch.nr[name], "notify", 0)
    p.ret(RET_ALLOW)
    for arg in sorted(set(_OPEN_FLAGS_ARG.values())):
        p.label(f"flags{arg}")
        p.load(_arg_lo(arg))
        p.jump(_JSET_K, _OPEN_WRITE, "notify", "allow")
    p.label("sendto")
    p.load(_arg_lo(4))
    p.jump(_JEQ_K, 0, 0, "notify")
    p.load(_arg_hi(4))
    p.jump(_JEQ_K, 0, "allow", "notify")
    p.label("notify")
    p.ret(RET_USER_NOTIF)
    p.label("allow")
    p.ret(RET_ALLOW)
    return p.assemble()


# -- the watch on connections ------------------------------------------------------------------------------
# struct seccomp_notif { u64 id; u32 pid; u32 flags; struct seccomp_data data; } (80 bytes)
# struct seccomp_notif_resp { u64 id; s64 val; s32 error; u32 flags; } (24 bytes)
_NOTIF = struct.Struct("=QII iIQ 6Q")
_RESP = struct.Struct("=QqiI")
_IOCTL_RECV = 0xC0502100  # SECCOMP_IOWR(0, struct seccomp_notif)
_IOCTL_SEND = 0xC0182101  # SECCOMP_IOWR(1, struct seccomp_notif_resp)
_IOCTL_ID_VALID = 0x40082102  # SECCOMP_IOW(2, __u64)
_FLAG_CONTINUE = 1


def describe_address(raw: bytes) -> str | None:
    """``"10.0.0.7:443"`` or ``"[2001:db8::1]:443"`` from a ``struct sockaddr``; None for other families."""
    if len(raw) < 2:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        port = struct.unpack_from("!H", raw, 2)[0]
        return f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}:{port}"
    if family == socket.AF_INET6 and len(raw) >= 24:
        port = struct.unpack_from("!H", raw, 2)[0]
        addr = raw[8:24]
        if addr[:12] == b"\0" * 10 + b"\xff\xff":  # an IPv4 address mapped into IPv6
            return f"{socket.inet_ntop(socket.AF_INET, addr[12:])}:{port}"
        return f"[{socket.inet_ntop(socket.AF_INET6, addr)}]:{port}"
    return None


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


class CallWatch:
    """Reads the notifications of the launcher's listener in a thread and lets every call go on.

    ``record(kind, target, call)`` gets each ``connect``/``sendto`` to an internet address other than
    ``allowed`` (kind ``connect``) and each call that writes to a path outside ``writable`` (kind ``write``;
    ``/dev`` and ``/proc`` aside), the path as the sandbox sees it, made absolute but not resolved.
    """

    def __init__(self, fd: int, arch: Arch, allowed: Sequence[str], writable: Sequence[str],
                 record: Callable[[str, str, str], None]) -> None:
        self.fd = fd
        self.names = {nr: name for name, nr in arch.nr.items()}
        self.allowed = set(allowed)
        self.writable = [*writable, "/dev", "/proc"]
        self.record = record
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pie-check-call-watch", daemon=True)
        self._thread.start()

    @staticmethod
    def _read(mem: int, ptr: int, size: int) -> bytes:
        try:
            return os.pread(mem, size, ptr) if ptr else b""
        except (OSError, OverflowError, ValueError):
            return b""

    def _path(self, pid: int, mem: int, dirfd: int | None, ptr: int) -> str | None:
        raw = self._read(mem, ptr, 4096).split(b"\0", 1)[0]
        if not raw:
            return None
        path = os.fsdecode(raw)
        if not path.startswith("/"):
            fd = _AT_FDCWD if dirfd is None else struct.unpack("=i", struct.pack("=I", dirfd & 0xFFFFFFFF))[0]
            try:
                base = os.readlink(f"/proc/{pid}/cwd" if fd == _AT_FDCWD else f"/proc/{pid}/fd/{fd}")
            except OSError:
                return None
            path = os.path.join(base, path)
        return os.path.normpath(path)

    def _targets(self, pid: int, nr: int, args: Sequence[int]) -> list[tuple[str, str, str]]:
        name = self.names.get(nr, str(nr))
        try:
            mem = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return []
        try:
            if name in ("connect", "sendto"):
                ptr, size = (args[1], args[2]) if name == "connect" else (args[4], args[5])
                target = describe_address(self._read(mem, ptr, min(int(size), 128)))
                if target is None or target in self.allowed:
                    return []
                return [("connect", target, name)]
            found = []
            for dirfd, arg in WRITES.get(name, ()):
                path = self._path(pid, mem, None if dirfd is None else args[dirfd], args[arg])
                if path is not None and not _under(path, self.writable):
                    found.append(("write", path, name))
            return found
        finally:
            os.close(mem)

    def _run(self) -> None:
        import fcntl

        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self._stop.is_set():
            try:
                events = poller.poll(200)
            except InterruptedError:
                continue
            if not events:
                continue
            if any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in events):
                return  # every process of the filter has gone
            buf = bytearray(_NOTIF.size)
            try:
                fcntl.ioctl(self.fd, _IOCTL_RECV, buf, True)
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.ENOENT, errno.EAGAIN):
                    continue
                return
            nid, pid, _flags, nr, _arch, _ip, *args = _NOTIF.unpack(buf)
            targets = self._targets(pid, nr, args)
            try:
                # Still the same call of the same process: what was read is its memory, not a successor's.
                fcntl.ioctl(self.fd, _IOCTL_ID_VALID, struct.pack("=Q", nid))
            except OSError:
                targets = []
            for kind, target, call in targets:
                self.seen += 1
                self.record(kind, target, call)
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.fd, _IOCTL_SEND, bytearray(_RESP.pack(nid, 0, 0, _FLAG_CONTINUE)), True)

    def close(self) -> None:
        """Stop watching (the script's pending calls then fail) and close the listener."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            os.close(self.fd)
