"""The runner's own sandbox where the service is not root ("userns" mode of
executor/isolation.py): entered first thing, while the runner is one thread and holds nothing but
its phase's credential (a fresh exec: the worker that started it is not dumpable, this process
is, so the namespaces are made here, not between the worker's fork and exec).

User, mount, PID and network namespaces of its own, with the service's uid mapped to itself:
an empty network (the one way out is the API socket in the phase directory); private tmpfs over
every `hidden` tree, with the `writable` and `read_only` paths bound back into them; after the
fork that makes the PID namespace's init (process.enter_pid_namespace), a /proc of that
namespace where the kernel allows it; then no capabilities, in this process and the init, so
the phase's processes and the runner are equals, as under root's runner user."""
from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    0x1, 0x2, 0x4, 0x8, 0x20, 0x1000, 0x4000, 0x40000)
_CAPABILITY_VERSION_3 = 0x20080522
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def enter(view_json: str) -> None:
    view = json.loads(view_json)
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(NAMESPACES), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as out:
            out.write(text)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    hidden = [Path(p) for p in view["hidden"] if Path(p).is_dir()]
    # descriptors first: the paths bound back are reached through them once hidden
    kept = [(Path(p), os.open(p, os.O_PATH), ro) for ro, key in ((False, "writable"), (True, "read_only"))
            for p in view[key] if any(_within(Path(p), tree) for tree in hidden)]
    for tree in hidden:
        if not any(tree != other and _within(tree, other) for other in hidden):
            _mount("tmpfs", str(tree), "tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m")
    for path, fd, ro in kept:
        path.mkdir(parents=True, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC)
        if ro:
            _mount(None, str(path), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)


def settle_as_init() -> None:
    """In the PID namespace's init (just forked): its own /proc, where the kernel lets a
    namespace mount one (a container that masks parts of the host's does not); then nothing
    privileged is left."""
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass           # the host's /proc stays: the service's processes are not dumpable
    drop_capabilities()


def drop_capabilities() -> None:
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(ctypes.byref(header), (_CapData * 2)()), "capset")


def _within(path: Path, tree: Path) -> bool:
    return path == tree or tree in path.parents


def _mount(source, target, fstype, flags: int, data: bytes | None = None) -> None:
    encode = lambda v: v.encode() if isinstance(v, str) else v  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), flags, data), f"mount {target}")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
