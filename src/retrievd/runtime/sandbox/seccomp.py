"""The seccomp filter of a sandbox: the kernel's riskier system calls refused, the rest allowed.

The namespaces and the unprivileged uid already keep the code from the host; this filter shrinks
the kernel surface it can reach, so that a kernel bug behind one of these calls is not a way out:
new namespaces (a user namespace would hand it capabilities over its own mounts), mounts,
tracing and other processes' memory, eBPF, perf, io_uring, userfaultfd, keyrings, modules, and
socket families other than Unix and IP (netlink, packet, ...). A denied call fails with EPERM
(EAFNOSUPPORT for a socket family, ENOSYS for clone3, so libc falls back to clone, which is
checked). Anything not x86-64 (32-bit and x32 calls) kills the process.

The program is classic BPF, written out here rather than built with libseccomp, whose Python
bindings are not on PyPI; bwrap loads it with --seccomp. x86-64 only.
"""

from __future__ import annotations

import errno
import platform
import struct

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_RET_KILL_PROCESS = 0x80000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (arg 0's low word, little-endian)

_CLONE, _SOCKET, _CLONE3 = 56, 41, 435
_NEW_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_SOCKET_FAMILIES = (1, 2, 10)  # AF_UNIX, AF_INET, AF_INET6
DENIED = {
    "ptrace": 101,
    "syslog": 103,
    "personality": 135,
    "vhangup": 153,
    "pivot_root": 155,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "lookup_dcookie": 212,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def supported() -> bool:
    return platform.machine() == "x86_64"


def program() -> bytes:
    """The filter as bwrap's --seccomp reads it: an array of struct sock_filter."""
    ops = [
        _op(_LD_W_ABS, _ARCH),
        _op(_JEQ, _AUDIT_ARCH_X86_64, jt=1),
        _op(_RET, _RET_KILL_PROCESS),
        _op(_LD_W_ABS, _NR),
        _op(_JGE, _X32_SYSCALL_BIT, jf=1),
        _op(_RET, _RET_KILL_PROCESS),
    ]
    for number in sorted(DENIED.values()):
        ops += [_op(_JEQ, number, jf=1), _op(_RET, _RET_ERRNO | errno.EPERM)]
    ops += [_op(_JEQ, _CLONE3, jf=1), _op(_RET, _RET_ERRNO | errno.ENOSYS)]
    # clone: refused when its flags (argument 0) ask for a new namespace.
    ops += [
        _op(_JEQ, _CLONE, jf=4),
        _op(_LD_W_ABS, _ARG0),
        _op(_JSET, _NEW_NAMESPACES, jf=1),
        _op(_RET, _RET_ERRNO | errno.EPERM),
        _op(_RET, _RET_ALLOW),
    ]
    # socket: Unix and IP families only (the jail's network namespace has nothing but loopback).
    families = len(_SOCKET_FAMILIES)
    ops += [_op(_JEQ, _SOCKET, jf=families + 3), _op(_LD_W_ABS, _ARG0)]
    ops += [_op(_JEQ, family, jt=families - index) for index, family in enumerate(_SOCKET_FAMILIES)]
    ops += [_op(_RET, _RET_ERRNO | errno.EAFNOSUPPORT), _op(_RET, _RET_ALLOW)]
    ops.append(_op(_RET, _RET_ALLOW))
    return b"".join(ops)
