"""A runner's lease on the phase it executes (a run's plan or apply, a job's step).

The privileged side grants the lease when it claims the phase and hands the runner a
credential naming it. The runner's every call to the service is checked against the lease: the
credential is good only for the phase it names, only while the lease is open (until the runner
closes it, or the privileged side does once the runner is gone) and only until it expires. The
lease also keeps the Step Functions task token, which only the privileged side ever sees.

Two clocks (a phase never errors for waiting): the state machine's task waits for a worker as
long as the queue limit allows, with no heartbeat; once a worker has claimed the phase, the
lease must be renewed by the runner's heartbeat before `beat_by`, or the phase is lost
(services/lost_phases.py fails its task)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

# The error a lost phase's task is failed with (the state machine's Catch reports it).
WORKER_LOST = "Terraless.WorkerLost"


@dataclass
class Lease:
    id: str                 # the nonce in the runner's credential
    task_token: str
    expires_at: int         # epoch seconds: the phase's own time limit (and a grace)
    closed: bool = False
    beat_by: int = 0        # epoch seconds: the next heartbeat is due before this

    def __post_init__(self) -> None:
        if not self.beat_by:
            self.beat_by = self.expires_at

    @property
    def due(self) -> int:
        """When this lease is lost unless a heartbeat renews it."""
        return min(self.beat_by, self.expires_at)

    def admits(self, lease_id: str, now: float) -> bool:
        return not self.closed and self.id == lease_id and now < self.due

    def overdue(self, now: float) -> bool:
        return not self.closed and now >= self.due

    def renewed(self, lease_id: str, now: float, period: int) -> bool:
        """A heartbeat: true when it kept this lease, which must still admit it."""
        if not self.admits(lease_id, now):
            return False
        self.beat_by = int(now) + int(period)
        return True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Lease | None":
        if not data:
            return None
        return cls(id=str(data["id"]), task_token=str(data["task_token"]),
                   expires_at=int(data["expires_at"]), closed=bool(data.get("closed")),
                   beat_by=int(data.get("beat_by") or 0))
