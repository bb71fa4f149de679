"""Agents (`terraless agent`): processes on the user's machines that take the phases of their
pool's workspaces. An agent registers with its pool's agent token, then asks for one phase at
a time; the phase itself talks to the runner API with its own credential, as on any worker.

Phases of an agent-mode workspace wait as offers in their pool's queue (oldest first) until an
agent takes one; taking is a conditional delete, so two agents never take the same offer."""
from __future__ import annotations

from dataclasses import dataclass

from . import clock
from .errors import Unprocessable

STATUSES = ("idle", "busy", "unknown", "errored", "exited")
REPORTED = ("idle", "busy", "errored", "exited")     # what an agent says of itself
# An agent pings at least this often (its status thread); past twice that it is `unknown`.
PING_SECONDS = 15
LOST_AFTER_SECONDS = 2 * PING_SECONDS + 15
MAX_NAME = 64
WORKER_PREFIX = "agent:"


@dataclass
class Agent:
    id: str
    pool_id: str
    org: str
    name: str
    created_at: str
    status: str = "idle"
    last_ping_at: str | None = None
    ip_address: str | None = None

    def shown_status(self, now_epoch: float) -> str:
        """What HCP's agents list says: an agent that stopped pinging is `unknown`."""
        if self.status in ("idle", "busy") and self.last_ping_at and \
                now_epoch - clock.parse(self.last_ping_at).timestamp() > LOST_AFTER_SECONDS:
            return "unknown"
        return self.status

    def worker_label(self) -> str:
        """Stored as the phase's worker: the agent, its pool and its name (shown in a plan's
        and an apply's execution-details)."""
        return f"{WORKER_PREFIX}{self.id}:{self.pool_id}:{self.name}"


@dataclass
class Offer:
    """A phase waiting in a pool's queue: the run's plan/apply or a job's step, with the task
    token the state machine waits on."""
    pool_id: str
    key: str              # <created epoch ms, zero-padded>#<subject>#<phase>: oldest first
    kind: str             # run | job
    subject_id: str
    phase: str            # plan | apply, or a job step's index
    task_token: str


def offer_key(created_ms: int, subject_id: str, phase: str) -> str:
    return f"{created_ms:015d}#{subject_id}#{phase}"


def execution_details(worker: str | None) -> dict:
    """HCP's execution-details of a plan or an apply."""
    if not worker or not worker.startswith(WORKER_PREFIX):
        return {"mode": "remote"}
    agent_id, pool_id, name = worker[len(WORKER_PREFIX):].split(":", 2)
    return {"mode": "agent", "agent-id": agent_id, "agent-name": name, "agent-pool-id": pool_id}


def validate_name(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME or \
            not all(c.isalnum() or c in "-_." for c in value):
        raise Unprocessable(f"an agent's name is 1-{MAX_NAME} letters, digits, '-', '_' or '.'",
                            pointer="/name")
    return value


def validate_status(value: object) -> str:
    if value not in REPORTED:
        raise Unprocessable(f"status must be one of {', '.join(REPORTED)}", pointer="/status")
    return str(value)
