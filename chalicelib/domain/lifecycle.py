"""One lifecycle engine for every aggregate with a status (configuration versions, runs, jobs).

An aggregate declares its statuses and a transition table; `Lifecycle.move` applies a move or
refuses it with `Conflict`. The move it returns says where the status came from, and storage
writes the entity on the condition that the stored status is still that origin and that the
stored version is the one read (storage/base.py `save`): a concurrent change is a Conflict too.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Generic, Mapping, TypeVar

from .errors import Conflict

S = TypeVar("S", bound=Enum)


@dataclass(frozen=True)
class Transition(Generic[S]):
    from_status: S
    to_status: S


def timestamp_key(status: Enum) -> str:
    """HCP Terraform's status-timestamps keys: `plan_queued` -> `plan-queued-at`."""
    return str(status.value).replace("_", "-") + "-at"


@dataclass(kw_only=True)
class WorkspaceItem:
    """What configuration versions, runs and jobs share: their workspace (and its
    organization), their number in the workspace's dense sequence (page N of a list is one seq
    range), when they were created, and the stored item's version (every save is conditional
    on it)."""
    id: str
    workspace_id: str
    org: str
    seq: int
    created_at: str
    version: int | None = None


class Lifecycle(Generic[S]):
    def __init__(self, noun: str, table: Mapping[S, frozenset]) -> None:
        missing = {to for targets in table.values() for to in targets} - set(table)
        if missing:
            raise ValueError(f"{noun}: statuses without a row: {sorted(s.value for s in missing)}")
        self.noun, self.table = noun, dict(table)
        self.final = frozenset(s for s, targets in table.items() if not targets)

    def allows(self, from_status: S, to_status: S) -> bool:
        return to_status in self.table[from_status]

    def move(self, entity, to: S, at: str) -> Transition[S]:
        """Move `entity` (with `id`, `status` and, when it keeps them, `status_timestamps`)
        to `to`, or refuse. Several moves in one intent chain: `chain` keeps the first origin."""
        if not self.allows(entity.status, to):
            raise Conflict(f"{self.noun} {entity.id} is {entity.status.value}; "
                           f"it cannot become {to.value}")
        move = Transition(entity.status, to)
        entity.status = to
        if hasattr(entity, "status_timestamps"):
            entity.status_timestamps = {**entity.status_timestamps, timestamp_key(to): at}
        return move

    def chain(self, entity, at: str, *steps: S) -> Transition[S]:
        """Several moves that are one user intent (confirm + queue the apply): each is checked,
        the result is one transition from the first origin, written once."""
        origin = entity.status
        for to in steps:
            self.move(entity, to, at)
        return Transition(origin, entity.status)
