"""Nothing of a dev stack outlives it, however it ends (Ctrl-C, SIGTERM, SIGHUP, SIGKILL).

- The emulator is started with a parent-death signal: the kernel kills it with the stack.
- Worker processes watch their parent: when the stack is gone they end themselves, and with
  them (parent-death signals again) their runners and each runner's PID namespace — every
  process of a phase, however it daemonized (executor/isolation.py).
- A stack that starts finds what a previous one of the same home left (its pid file) and
  ends it before it binds its ports."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def session_dying_with(parent: int):
    """A Popen preexec_fn: its own session, killed when `parent` (this process) dies. (The
    signal is tied to the thread that forks: start such children from the main thread.)"""
    def setup() -> None:
        os.setsid()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:      # the parent died before the signal was armed
            os._exit(1)
    return setup


def watch_parent(every: float = 0.5) -> threading.Thread:
    """In a worker: end this process when its parent (the stack) is gone."""
    parent = os.getppid()

    def loop() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(every)
    thread = threading.Thread(target=loop, daemon=True, name="parent-watch")
    thread.start()
    return thread


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def reclaim(pid_file: Path, marker: str, wait: float = 10.0) -> bool:
    """Ends the process a previous stack recorded in `pid_file` if it is still that process
    (its command line carries `marker`). True if one was ended."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    if marker not in _command_line(pid):
        pid_file.unlink(missing_ok=True)
        return False
    log.warning("ending process %d left by a previous stack of this home", pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + wait
    while marker in _command_line(pid) and time.time() < deadline:
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return True


def record(pid_file: Path, pid: int) -> None:
    pid_file.write_text(f"{pid}\n")
    pid_file.chmod(0o600)
