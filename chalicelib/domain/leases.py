"""A runner's lease on the phase it executes (a run's plan or apply, a job's step).

The privileged side grants the lease when it claims the phase and hands the runner a
credential naming it. The runner's every call to the service is checked against the lease: the
credential is good only for the phase it names, only while the lease is open (until the runner
closes it, or the privileged side does once the runner is gone) and only until it expires. The
lease also keeps the Step Functions task token, which only the privileged side ever sees."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Lease:
    id: str                 # the nonce in the runner's credential
    task_token: str
    expires_at: int         # epoch seconds
    closed: bool = False

    def admits(self, lease_id: str, now: float) -> bool:
        return not self.closed and self.id == lease_id and now < self.expires_at

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Lease | None":
        if not data:
            return None
        return cls(id=str(data["id"]), task_token=str(data["task_token"]),
                   expires_at=int(data["expires_at"]), closed=bool(data.get("closed")))
