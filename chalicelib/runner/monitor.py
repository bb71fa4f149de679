"""What watches a phase while its commands run: the heartbeat that keeps the state machine's
task alive, the monitor that interrupts a command on cancel / force-cancel / a lost task, and
the log stream. All of it goes through the runner API (client.PhaseApi)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import log
from .client import RunnerApiError
from .process import Process

CANCEL_POLL_SECONDS = 0.5
FLUSH_SECONDS = 0.25
CHECKPOINT_SECONDS = 2.0
MAX_CHUNK = 300_000   # characters; the service stores one chunk per DynamoDB item


class Heartbeat:
    """Beats from the moment the runner starts until it is done, in a thread, so no step of the
    phase can outlast the state machine's heartbeat. `lost` turns true when the state machine
    no longer knows the task: a beat refused after one had been accepted, or refused for a
    whole heartbeat period. (moto's engine sends the task message before it arms the task's
    heartbeat: a fast runner's first beats may be refused.)"""

    def __init__(self, beat: Callable[[], bool], period: float) -> None:
        self.beat, self.lost = beat, False
        self.period = float(period)
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
                refused = not self.beat()
                if self.gives_up(refused, accepted, time.monotonic() - started, self.period):
                    self.lost = True
                    return
                accepted = accepted or not refused
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("heartbeat failed", exc_info=True)
            if self._stop.wait(self.every if accepted else min(self.every, 0.5)):
                return

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Monitor:
    """Watches what the phase works for through `probe` — which answers "canceled",
    "force_canceled" or None — and the heartbeat for a lost task."""

    def __init__(self, beat: Heartbeat, probe: Callable[[], str | None], grace_seconds: float,
                 deadline: float | None = None) -> None:
        self.beat, self.probe, self.grace = beat, probe, grace_seconds
        self.deadline = deadline          # time.monotonic() by which terraform must have stopped
        self.last_poll = 0.0
        self.cancel_at: float | None = None
        self.outcome: str | None = None   # canceled | force_canceled | lost | out_of_time

    def tick(self, proc: Process) -> None:
        now = time.monotonic()
        if self.beat.lost and self.outcome is None:
            self.outcome = "lost"
            proc.kill()
        if self.deadline is not None and now >= self.deadline and self.outcome is None:
            # stopped like a cancel (SIGINT, a second after the grace): terraform writes the
            # state of what it created, which the phase then stores
            self.outcome, self.cancel_at = "out_of_time", now
            proc.interrupt()
        if now - self.last_poll >= CANCEL_POLL_SECONDS:
            self.last_poll = now
            try:
                seen = self.probe()
            except Exception:  # noqa: BLE001 - asked again at the next tick
                log.warning("cancel probe failed", exc_info=True)
                seen = None
            if seen == "force_canceled":
                self.outcome = "force_canceled"
                proc.kill()
            elif seen == "canceled" and self.cancel_at is None:
                self.outcome, self.cancel_at = "canceled", now
                proc.interrupt()
            elif self.cancel_at is not None and proc.interrupted < 2 and \
                    now - self.cancel_at > self.grace:
                proc.interrupt()               # second Ctrl-C: terraform exits at once


MASK = "***"


def mask(text: str, masks: list[str]) -> str:
    """Every sensitive value (longest first), as printed and as JSON (Python's or Go's) escapes
    it, becomes ***.
    Output is masked per flush of whole lines, so a value printed on one line is always
    caught; each line of a multi-line value is a mask of its own."""
    for value in masks:
        escaped = json.dumps(value)[1:-1]
        # Go's encoder (terraform's JSON) also escapes <, > and & (and non-ASCII stays as is)
        go = json.dumps(value, ensure_ascii=False)[1:-1].replace("<", "\\u003c") \
            .replace(">", "\\u003e").replace("&", "\\u0026")
        for form in {value, escaped, go}:
            if form in text:
                text = text.replace(form, MASK)
    return text


class LogStream:
    """The phase's log: chunks to the service at most every FLUSH_SECONDS (a reader sees a
    printed line within about a second); the whole text kept for the runner's own checks."""

    def __init__(self, send: Callable[[int, str], None]) -> None:
        self.send = send
        self.masks: list[str] = []         # sensitive values: never sent
        self._pending: list[str] = []
        self._all: list[str] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._last_flush = 0.0

    def write(self, text: str) -> None:
        with self._lock:
            self._pending.append(text)
            self._all.append(text)

    def flush(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_flush < FLUSH_SECONDS:
            return
        with self._lock:
            data, self._pending = mask("".join(self._pending), self.masks), []
        self._last_flush = time.monotonic()
        while data:
            piece, data = data[:MAX_CHUNK], data[MAX_CHUNK:]
            self._seq += 1
            self.send(self._seq, piece)

    def text(self) -> str:
        with self._lock:
            return "".join(self._all)


class StateCheckpoints:
    """While an apply runs, the state terraform has written so far is stored as it changes
    (terraform 1.0's local backend rewrites terraform.tfstate after each resource it changed),
    at most every CHECKPOINT_SECONDS: a worker lost mid-apply leaves what it had created in the
    workspace's state, and the next plan does not create it again. A read that catches the
    file half rewritten is not JSON and waits for the next tick."""

    def __init__(self, read: Callable[[], "bytes | None"], store: Callable[[bytes], "str | None"],
                 before: "bytes | None", every: float = CHECKPOINT_SECONDS) -> None:
        self.read, self.store, self.every = read, store, every
        self.last, self.last_id = before, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="state-checkpoints")

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.take()

    def take(self) -> None:
        try:
            data = self.read()
            if not data or data == self.last:
                return
            json.loads(data)
        except (OSError, ValueError):
            return
        try:
            self.last_id, self.last = self.store(data), data
        except RunnerApiError as exc:
            if exc.status in (401, 404):
                self._stop.set()        # the phase is over for the service
            else:
                log.warning("state checkpoint refused: %s", exc)
        except OSError:
            log.warning("state checkpoint not stored", exc_info=True)

    def __enter__(self) -> "StateCheckpoints":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


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


def run(argv: list[str], cwd: Path, env: dict, writer, monitor: Monitor) -> int:
    """A command with its output streamed to `writer`, watched by `monitor`."""
    proc = Process(argv, cwd, env, writer.write)
    while True:
        code = proc.wait(0.1)
        writer.flush()
        if code is not None:
            return code
        monitor.tick(proc)


def probe_of(api) -> Callable[[], str | None]:
    """The service's word on the phase. A refused credential means the phase is over for the
    service (its run or job is gone, or the lease was closed): stop at once."""
    def probe() -> str | None:
        try:
            return json.loads(api.get("signal") or b"{}").get("signal")
        except RunnerApiError as exc:
            if exc.status in (401, 404):
                return "force_canceled"
            raise
    return probe


def beat_of(api) -> Callable[[], bool]:
    """A beat the state machine accepted; a refused credential is a refused beat."""
    def beat() -> bool:
        try:
            return bool(api.post("heartbeat", {}).get("accepted"))
        except RunnerApiError as exc:
            if exc.status in (401, 404):
                return False
            raise
    return beat
