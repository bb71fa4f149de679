"""The dev stack adopts what a dead worker leaves behind, and ends it.

A worker SIGKILLed mid-phase takes its terraform with it (parent-death signal), but terraform's
own children (provider plugins, a provisioner's commands) would be orphaned and run on. The
dev stack's main process makes itself a child subreaper, so those orphans become its children,
and kills every adopted process of the runner user (runner/isolation.py) — never one of its
own (the emulator and the workers run as the service's user)."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
from pathlib import Path

log = logging.getLogger(__name__)
PR_SET_CHILD_SUBREAPER = 36


def _status(pid: str) -> tuple[int, int] | None:
    """(parent pid, real uid) of a process, None if it is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
        return int(fields["PPid"]), int(fields["Uid"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def adopted(uid: int) -> list[int]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            status = _status(entry.name)
            if status and status == (me, uid):
                found.append(int(entry.name))
    return found


class OrphanReaper:
    def __init__(self, uid: int, every: float = 0.5) -> None:
        self.uid, self.every = uid, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="orphan-reaper")

    def start(self) -> bool:
        """False where this process cannot be a subreaper (not Linux)."""
        try:
            if ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
                return False
        except OSError:
            return False
        self._thread.start()
        return True

    def reap_once(self) -> list[int]:
        killed = self.adopted_and_killed()
        for pid in killed:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        return killed

    def adopted_and_killed(self) -> list[int]:
        killed = []
        for pid in adopted(self.uid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        if killed:
            log.warning("killed %d process(es) a dead worker's phase left: %s", len(killed), killed)
        return killed

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.reap_once()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.warning("orphan reaping failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
