"""State versions: each apply's resulting state and states pushed through the API. The file
lives in the blob store; the entity keeps what lists and checks need."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import Conflict, Unprocessable


@dataclass
class StateVersion:
    id: str
    workspace_id: str
    org: str
    serial: int
    md5: str
    size: int
    created_at: str
    lineage: str | None = None
    run_id: str | None = None
    created_by: str | None = None
    terraform_version: str | None = None
    resources: int = 0
    outputs: dict = field(default_factory=dict)


def parse_state(raw: bytes) -> dict:
    try:
        state = json.loads(raw)
    except ValueError:
        raise Unprocessable("the state is not valid JSON", pointer="/data/attributes/state") from None
    if not isinstance(state, dict) or not isinstance(state.get("serial"), int):
        raise Unprocessable("the state has no serial", pointer="/data/attributes/state")
    return state


def outputs_of(state: dict) -> dict:
    return {name: {"value": o.get("value"), "type": o.get("type"), "sensitive": bool(o.get("sensitive"))}
            for name, o in (state.get("outputs") or {}).items()}


def check_successor(current: StateVersion | None, serial: int, lineage: str | None, *,
                    check_lineage: bool) -> None:
    """A new version must have a higher serial than the current one and, unless forced, the
    same lineage (409 otherwise)."""
    if current is None:
        return
    if serial <= current.serial:
        raise Conflict(f"serial {serial} is not greater than the current serial {current.serial}")
    if check_lineage and current.lineage and lineage and lineage != current.lineage:
        raise Conflict(f"lineage {lineage} does not match the current lineage {current.lineage}")
