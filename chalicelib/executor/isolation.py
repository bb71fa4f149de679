"""The sandbox of a phase's runner on a host the service shares (the dev stack; later agents).

Code inside a run (local-exec provisioners, external data sources, providers, Terrakube BASH
steps) is the tenant's code. When the service runs as root, the runner and every process of its
phase run as a dedicated unprivileged user (`TERRALESS_RUNNER_UID`, default 64999, no login, no groups) in a
network namespace of its own:

- another uid cannot read the worker's `/proc/<pid>/environ` (the kernel's ptrace check), nor
  the stack's home (0711, secrets 0600), nor write the provider mirror or the CLI configuration
  (root's, 0755/0644);
- the namespace has no interface but a loopback that is down: no emulator, no API port, no
  metadata endpoint. The one way out is the Unix socket the executor hands the runner
  (executor/local.py), which leads to the runner API and nowhere else. terraform talks to its providers over Unix sockets, which still work;
  providers that download or call the internet do not (the dev stack ships the null provider;
  `TERRALESS_SANDBOX=user` keeps the host network and only drops the user).

Not root (and on Lambda, where the phase gets a function of its own): no isolation here
(`mode()` says "none"); the README states what holds then."""
from __future__ import annotations

import ctypes
import os
import signal
from functools import lru_cache
from pathlib import Path

CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


@lru_cache(maxsize=None)
def mode() -> str:
    """"user+net", "user" or "none"."""
    wanted = os.environ.get("TERRALESS_SANDBOX", "auto").lower()
    if wanted in ("off", "none") or os.geteuid() != 0:
        return "none"
    return "user" if wanted == "user" else "user+net"


def runner_uid() -> int:
    return int(os.environ.get("TERRALESS_RUNNER_UID", "64999"))


def hand_over(*paths: Path) -> None:
    """The phase's own directories become the runner's (it writes its plan, state, .terraform,
    its temporary files)."""
    if mode() == "none":
        return
    uid = runner_uid()
    for path in paths:
        os.chown(path, uid, uid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, uid)


def child_setup() -> None:
    """Runs in the child between fork and exec: its own process group (a cancel's SIGINT reaches
    terraform and its providers), death with the worker, then the sandbox."""
    os.setsid()
    current = mode()
    if current != "none":
        # the runner's children get a PID namespace of their own (runner/process.py
        # hold_pid_namespace): nothing of a phase outlives its runner, however it daemonized
        flags = CLONE_NEWPID | (CLONE_NEWNET if current == "user+net" else 0)
        if _libc.unshare(flags) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWPID|CLONE_NEWNET) failed")
        uid = runner_uid()
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    # after the uid change, which clears it: the phase dies with the worker
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def end_session(sid: int) -> int:
    """Whatever is left of a runner's session when the runner is gone (the runner leads it:
    child_setup; its commands stay in it, each in a group of its own): terraform's second
    process and a provisioner's children that a killed runner left behind. Returns how many
    were ended. (A process that made a session of its own escapes this; the dev stack's
    orphan reaper ends those of the runner user.)"""
    ended = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                ended += 1
            except (ProcessLookupError, PermissionError):
                pass
    return ended
