"""The sandbox one phase runs in, shared by run phases and job steps: a fresh working
directory with the configuration and the workspace's state, the heartbeat that keeps the state
machine's task alive, the monitor that interrupts terraform on cancel / force-cancel / a lost
task, terraform's invocation with live logs, and the capture of the state it wrote."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..aws import executions
from ..config import settings
from ..domain.workspaces import Workspace
from ..services import configuration_versions, logs, state_versions
from ..storage import configuration_versions as cv_store
from ..storage import workspaces as workspace_store
from . import terraform

log = logging.getLogger(__name__)

OVERRIDE_FILE = "zzz_terraless_override.tf"
TFVARS_FILE = "zzz_terraless_run.auto.tfvars"
STATE_FILE = "terraform.tfstate"
CANCEL_POLL_SECONDS = 0.5


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def fresh_workdir(kind: str, name: str) -> Iterator[Path]:
    """A new directory under the stack's work directory, removed when the phase ends."""
    parent = Path(settings().work_dir) / kind
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
    path.chmod(0o711)       # the runner user (runner/isolation.py) reaches its cwd inside
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Heartbeat:
    """Heartbeats the task token from the moment the task is received until it is done, in a
    thread, so no step of the phase (downloads, init, storing state) can outlast the state
    machine's heartbeat. `lost` turns true when the state machine no longer knows the task:
    a token refused after it had been accepted, or refused for a whole heartbeat period. (A
    token may be refused for a moment at first: moto's engine sends the task message before it
    arms the task's heartbeat, and a fast worker beats in between.)"""

    def __init__(self, token: str) -> None:
        self.token, self.lost = token, False
        self.period = float(settings().heartbeat_seconds)
        self.every = max(1.0, self.period / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="heartbeat")

    @staticmethod
    def gives_up(refused: bool, accepted_before: bool, seconds_since_start: float,
                 period: float) -> bool:
        return refused and (accepted_before or seconds_since_start >= period)

    def _loop(self) -> None:
        started, accepted = time.monotonic(), False
        while True:
            try:
                refused = not executions.heartbeat(self.token)
                if self.gives_up(refused, accepted, time.monotonic() - started, self.period):
                    self.lost = True
                    return
                accepted = accepted or not refused
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("heartbeat failed", exc_info=True)
            # until the token is accepted, look again soon: it is the state machine's window
            if self._stop.wait(self.every if accepted else min(self.every, 0.5)):
                return

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def cancel_probe(load: Callable, force_canceled: Callable) -> Callable[[], str | None]:
    """What a monitor asks about a run or a job: gone or force-canceled ("force_canceled"),
    asked to cancel ("canceled"), or neither (None)."""
    def probe() -> str | None:
        subject = load()
        if subject is None or force_canceled(subject):
            return "force_canceled"
        return "canceled" if subject.cancel_requested_at else None
    return probe


class Monitor:
    """Watches what a phase works for (a run or a job) through `probe` — which answers
    "canceled", "force_canceled" or None — and the heartbeat for a lost task."""

    def __init__(self, beat: Heartbeat, probe: Callable[[], str | None]) -> None:
        self.beat, self.probe = beat, probe
        self.last_poll = 0.0
        self.cancel_at: float | None = None
        self.outcome: str | None = None   # canceled | force_canceled | lost

    def tick(self, proc: terraform.Process) -> None:
        now = time.monotonic()
        if self.beat.lost and self.outcome is None:
            self.outcome = "lost"              # the state machine gave up on this task
            proc.kill()
        if now - self.last_poll >= CANCEL_POLL_SECONDS:
            self.last_poll = now
            seen = self.probe()
            if seen == "force_canceled":
                self.outcome = "force_canceled"
                proc.kill()
            elif seen == "canceled" and self.cancel_at is None:
                self.outcome, self.cancel_at = "canceled", now
                proc.interrupt()
            elif self.cancel_at is not None and proc.interrupted < 2 and \
                    now - self.cancel_at > settings().cancel_grace_seconds:
                proc.interrupt()               # second Ctrl-C: terraform exits at once


def run(args: list[str], cwd: Path, writer, monitor: Monitor, **process_options) -> int:
    """terraform (or `program`) with its output streamed to `writer`, watched by `monitor`."""
    proc = terraform.Process(args, cwd, writer.write, **process_options)
    while True:
        code = proc.wait(0.1)
        writer.flush()
        if code is not None:
            return code
        monitor.tick(proc)


class HeldOutput:
    """Output kept back from the phase's log (terraform init's): shown only if it fails."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def flush(self, force: bool = False) -> None:
        pass

    def text(self) -> str:
        return "".join(self._parts)


def init(cwd: Path, writer, monitor: Monitor) -> bool:
    """terraform init; False when the monitor interrupted it (a cancel during init is a
    cancel, not an init failure: the caller records what the monitor saw)."""
    held = HeldOutput()
    if run(["init", "-input=false", "-no-color"], cwd, held, monitor) != 0:
        if monitor.outcome is not None:
            return False
        writer.write(held.text())
        log.warning("terraform init failed in %s:\n%s", cwd, held.text()[-3000:])
        raise RuntimeError("terraform init failed")
    return True


def prepare_workdir(cv_id: str, workspace_id: str, variables: list, workdir: Path,
                    writer: logs.LogWriter) -> Path:
    """The configuration version unpacked, local state from the workspace's current state
    version, the run's variables: the directory terraform runs in."""
    cv = cv_store.load(cv_id)
    with tarfile.open(fileobj=configuration_versions.read_archive(cv), mode="r|gz") as tar:
        tar.extractall(workdir / "config", filter="data")
    ws = _workspace(workspace_id)
    cwd = (workdir / "config" / (ws.working_directory or "")).resolve()
    if not str(cwd).startswith(str((workdir / "config").resolve())) or not cwd.is_dir():
        raise RuntimeError(f"working directory {ws.working_directory!r} is not in the configuration")
    # Whatever backend the configuration names (e.g. "remote" pointing back at us), the
    # worker runs on local state that it loads from and stores to state versions.
    (cwd / OVERRIDE_FILE).write_text('terraform {\n  backend "local" {}\n}\n')
    state = state_versions.current_state_bytes(ws)
    if state:
        (cwd / STATE_FILE).write_bytes(state)
    if variables:
        (cwd / TFVARS_FILE).write_text("".join(f"{v['key']} = {v['value']}\n" for v in variables))
    writer.write(f"Terraform v{terraform.binary_version()}\non linux_amd64\n"
                 "Initializing Terraform configuration...\n")
    return cwd


def _workspace(workspace_id: str) -> Workspace:
    ws = workspace_store.find(workspace_id)
    if ws is None:
        raise RuntimeError(f"workspace {workspace_id} no longer exists")
    return ws


def state_bytes(cwd: Path) -> bytes | None:
    path = cwd / STATE_FILE
    return path.read_bytes() if path.exists() else None


def capture_state(workspace_id: str, cwd: Path, before: bytes | None, *, run_id: str | None,
                  created_by: str | None) -> str | None:
    """A state terraform changed becomes the workspace's new state version (its id), whatever
    the phase's outcome: a failed or interrupted apply may still have changed real resources."""
    after = state_bytes(cwd)
    if after is None or after == before:
        return None
    return state_versions.store_state(_workspace(workspace_id), after, run_id=run_id,
                                      created_by=created_by).id


class PhaseTimer:
    """Durations of a phase's steps, logged at debug level (where the time goes)."""

    def __init__(self, subject_id: str) -> None:
        self.subject_id, self.last, self.parts = subject_id, time.perf_counter(), []

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.parts.append(f"{name}={now - self.last:.3f}s")
        self.last = now

    def log(self) -> None:
        log.debug("%s steps: %s", self.subject_id, " ".join(self.parts))
