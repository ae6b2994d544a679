"""Landlock for isolation level ``uid``, which has no namespaces of its own.

A process that calls :func:`confine_worker` (and everything it starts, across exec) can no longer
connect or bind a TCP socket (Landlock ABI 4, Linux 6.7), nor reach an abstract UNIX socket made
outside it or signal a process outside it (ABI 6, Linux 6.12). Any Landlock domain also keeps it from
ptrace-ing or reading /proc of processes outside it. Python-level blocks in the worker can be undone
by the student's code; these cannot. Where the kernel lacks them, nothing is restricted and the
caller is told so. See https://docs.kernel.org/userspace-api/landlock.html.
"""
from __future__ import annotations

import ctypes
import sys

# The generic syscall numbers, shared by x86_64 and aarch64.
_CREATE_RULESET, _RESTRICT_SELF = 444, 446
_CREATE_RULESET_VERSION = 1
_ACCESS_NET_BIND_TCP, _ACCESS_NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_PR_SET_NO_NEW_PRIVS = 38
NETWORK_ABI = 4          # the first ABI with TCP rules
SCOPE_ABI = 6            # the first ABI with scopes


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def confine_worker() -> bool:
    """Forbid this process and its descendants TCP connect/bind, and (where the ABI has scopes) signals to and
    abstract UNIX sockets of processes outside them; whether the rules are in force. Sets no_new_privs,
    which Landlock requires."""
    version = abi_version()
    if version < NETWORK_ABI:
        return False
    libc = _libc()
    attr = _RulesetAttr(0, _ACCESS_NET_BIND_TCP | _ACCESS_NET_CONNECT_TCP,
                        _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if version >= SCOPE_ABI else 0)
    size = ctypes.sizeof(_RulesetAttr) if version >= SCOPE_ABI else 2 * ctypes.sizeof(ctypes.c_uint64)
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        libc.close(ruleset)
