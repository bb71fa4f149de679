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

Not root, where the kernel lets an unprivileged user create namespaces ("userns"): the runner
keeps the service's uid but starts in user, mount, PID and network namespaces of its own, made
between fork and exec (child_setup): the same empty network; private tmpfs over the stack's
home, the service user's home, the temporary directories and the whole work directory, with
only the phase's own directory bound back writable and the staged tools, the runner's code and
the interpreter bound back read-only. The service's processes are not dumpable
(protect_process), so a process of the same uid cannot read their `/proc/<pid>/environ`.

Neither (user namespaces disabled, or TERRALESS_SANDBOX=off; and on Lambda, where the phase
gets a function of its own): no isolation here (`mode()` says "none"); the README states what
holds then."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..runner.sandbox import CLONE_NEWNET, CLONE_NEWPID, NAMESPACES

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


@lru_cache(maxsize=None)
def mode() -> str:
    """"user+net", "user", "userns" or "none"."""
    wanted = os.environ.get("TERRALESS_SANDBOX", "auto").lower()
    if wanted in ("off", "none"):
        return "none"
    if os.geteuid() != 0:
        return "userns" if user_namespaces_work() else "none"
    return "user" if wanted == "user" else "user+net"


def runs_as_runner_user() -> bool:
    """The phase runs as a uid of its own (root's sandbox), not the service's."""
    return mode() in ("user", "user+net")


@lru_cache(maxsize=None)
def user_namespaces_work() -> bool:
    """Tried in a throwaway process: some kernels and containers refuse unprivileged ones."""
    probe = ("import ctypes, os; libc = ctypes.CDLL('libc.so.6', use_errno=True); "
             f"os._exit(0 if libc.unshare({NAMESPACES}) == 0 else 1)")
    try:
        return subprocess.run([sys.executable, "-I", "-c", probe], timeout=30,
                              capture_output=True).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def protect_process() -> None:
    """Not dumpable: a process of the same uid (a phase's, in "userns" mode) can neither read
    this one's /proc/<pid>/environ nor attach to it. Reset by exec: every process of the stack
    calls it at its start."""
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


@dataclass
class View:
    """What a phase's processes see of the host's files in "userns" mode (runner/sandbox.py):
    `hidden` trees are empty tmpfs, but for `writable` and `read_only` paths bound back."""
    hidden: list[Path] = field(default_factory=list)
    writable: list[Path] = field(default_factory=list)
    read_only: list[Path] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({k: [str(p) for p in v] for k, v in vars(self).items()})


def runner_uid() -> int:
    return int(os.environ.get("TERRALESS_RUNNER_UID", "64999"))


def hand_over(*paths: Path) -> None:
    """The phase's own directories become the runner's (it writes its plan, state, .terraform,
    its temporary files)."""
    if not runs_as_runner_user():
        return
    uid = runner_uid()
    for path in paths:
        os.chown(path, uid, uid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, uid)


def child_setup() -> None:
    """Runs in the child between fork and exec: its own process group (a cancel's SIGINT reaches
    terraform and its providers), death with the worker, then root's sandbox ("userns": the
    runner enters its own, runner/sandbox.py)."""
    os.setsid()
    current = mode()
    if runs_as_runner_user():
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
