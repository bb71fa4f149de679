"""Plays EventBridge's part for `@app.schedule` handlers: moto's schedules never fire, so the
dev stack ticks them itself. `rate(...)` expressions only (cron is not needed yet)."""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from chalice.app import ScheduledEventConfig

from ..config import settings

log = logging.getLogger(__name__)
DEFAULT_OVERRIDES = "sweep_lost_phases=2"
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression) -> int:
    text = expression if isinstance(expression, str) else expression.to_string()
    match = re.fullmatch(r"rate\((\d+) (\w+)\)", text.strip().lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"unsupported schedule expression {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class Job:
    name: str
    handler: Callable
    every: int
    next_at: float

    def event(self) -> dict:
        """The shape of an EventBridge scheduled event, which Chalice's handler reads."""
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                "source": "aws.events", "account": "000000000000",
                "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": settings().region, "resources": [f"terraless:{self.name}"], "detail": {}}


def overrides(text: str) -> dict[str, int]:
    """TERRALESS_SCHEDULE_EVERY="name=seconds,...": the dev stack ticks some handlers more
    often than their deployed rate (the lost-phase sweep, so a lost worker shows in seconds)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, seconds = part.partition("=")
        if not seconds.strip().isdigit() or int(seconds) < 1:
            raise ValueError(f"TERRALESS_SCHEDULE_EVERY: bad entry {part!r}")
        out[name.strip()] = int(seconds)
    return out


def jobs(app, module, *, now: float | None = None) -> list[Job]:
    start = time.time() if now is None else now
    every_of = overrides(os.environ.get("TERRALESS_SCHEDULE_EVERY", DEFAULT_OVERRIDES))
    out = []
    for src in app.event_sources:
        if isinstance(src, ScheduledEventConfig):
            every = every_of.get(src.name) or rate_seconds(src.schedule_expression)
            out.append(Job(src.name, getattr(module, src.name), every, start + every))
    return out


def run_due(job_list: list[Job], now: float) -> list[str]:
    fired = []
    for job in job_list:
        if now >= job.next_at:
            job.next_at = now + job.every
            try:
                job.handler(job.event(), None)
                fired.append(job.name)
            except Exception:  # noqa: BLE001 - a failed tick is retried at the next one
                log.exception("scheduled handler %s failed", job.name)
    return fired


class Scheduler:
    def __init__(self, job_list: list[Job], tick: float = 1.0) -> None:
        self.jobs, self.tick = job_list, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="scheduler")

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            run_due(self.jobs, time.time())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
