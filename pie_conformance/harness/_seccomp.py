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
  (``SECCOMP_FILTER_FLAG_NEW_LISTENER``): every ``connect`` and every ``sendto`` with an address is shown to
  the kit through the listener's descriptor, which the launcher hands to the kit and the script never holds.
  :class:`ConnectWatch` reads the address from the script's memory, records it, and lets the call go on
  unchanged (``SECCOMP_USER_NOTIF_FLAG_CONTINUE``): the network namespace decides, the watch only sees. A
  record is therefore a call the script really made, seen from outside, which a script cannot forge.
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
    """The filter the launcher installs with a listener: ``connect``, and ``sendto`` with an address."""
    p = _Program()
    p.load(_ARCH)
    p.jump(_JEQ_K, arch.audit, 0, "allow")
    p.load(_NR)
    p.jump(_JEQ_K, arch.nr["connect"], "notify", 0)
    p.jump(_JEQ_K, arch.nr["sendto"], 0, "allow")
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


class ConnectWatch:
    """Reads the notifications of the launcher's listener in a thread: each ``connect``/``sendto`` with an
    internet address other than ``allowed`` is passed to ``record(target, call)``; every call goes on."""

    def __init__(self, fd: int, arch: Arch, allowed: Sequence[str],
                 record: Callable[[str, str], None]) -> None:
        self.fd = fd
        self.names = {arch.nr["connect"]: "connect", arch.nr["sendto"]: "sendto"}
        self.allowed = set(allowed)
        self.record = record
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pie-check-connect-watch", daemon=True)
        self._thread.start()

    def _address(self, pid: int, nr: int, args: Sequence[int]) -> str | None:
        ptr, size = (args[1], args[2]) if self.names.get(nr) == "connect" else (args[4], args[5])
        size = min(int(size), 128)
        if not ptr or size < 2:
            return None
        try:
            fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return describe_address(os.pread(fd, size, ptr))
        except (OSError, OverflowError, ValueError):
            return None
        finally:
            os.close(fd)

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
            target = self._address(pid, nr, args)
            valid = True
            try:
                fcntl.ioctl(self.fd, _IOCTL_ID_VALID, struct.pack("=Q", nid))
            except OSError:
                valid = False  # the caller has gone: the memory read may be another process's
            if valid and target is not None and target not in self.allowed:
                self.seen += 1
                self.record(target, self.names.get(nr, str(nr)))
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.fd, _IOCTL_SEND, bytearray(_RESP.pack(nid, 0, 0, _FLAG_CONTINUE)), True)

    def close(self) -> None:
        """Stop watching (the script's pending calls then fail) and close the listener."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            os.close(self.fd)
