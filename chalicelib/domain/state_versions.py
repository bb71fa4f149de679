"""State versions: each apply's resulting state and states pushed through the API. The file
lives in the blob store; the entity keeps what lists and checks need."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .errors import Conflict, Unprocessable

# A version created without its state (HCP's two-step upload, terraform >= 1.6) is pending
# until the state is PUT to its upload URL; only then is it finalized and current.
PENDING, FINALIZED = "pending", "finalized"
MD5 = re.compile(r"^[0-9a-f]{32}\Z")


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
    status: str = FINALIZED
    has_json: bool = False      # the client uploaded terraform's JSON form of the state too

    def check_upload(self, raw: bytes, md5_of_raw: str) -> dict:
        """The state PUT to a pending version: the one its creator described (md5, lineage);
        409 once the version is finalized."""
        if self.status != PENDING:
            raise Conflict(f"state version {self.id} is {self.status}: its state was uploaded already")
        if md5_of_raw != self.md5:
            raise Unprocessable("the state's md5 is not the one the state version was created with")
        return parse_state(raw)      # its declared serial and lineage are the version's


def check_pending(attrs: dict) -> tuple[int, str, str | None]:
    """serial, md5 and lineage of a version created without its state."""
    serial, md5, lineage = attrs.get("serial"), attrs.get("md5"), attrs.get("lineage")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise Unprocessable("serial must be a non-negative integer", pointer="/data/attributes/serial")
    if not isinstance(md5, str) or not MD5.match(md5):
        raise Unprocessable("md5 must be the state's MD5 in hex", pointer="/data/attributes/md5")
    if lineage is not None and (not isinstance(lineage, str) or len(lineage) > 128):
        raise Unprocessable("lineage must be a string", pointer="/data/attributes/lineage")
    return serial, md5, lineage


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
                    check_lineage: bool, md5: str) -> None:
    """A new version must have a higher serial than the current one — or the same serial with
    the very same state (md5), which HCP Terraform takes again (OTF follows it; go-tfe's tests
    push one state three times) — and, unless forced, the same lineage (409 otherwise)."""
    if current is None:
        return
    if serial < current.serial or (serial == current.serial and md5 != current.md5):
        raise Conflict(f"serial {serial} is not greater than the current serial {current.serial}"
                       + (" (the same serial is taken again only for the same state)" if serial == current.serial else ""))
    if check_lineage and current.lineage and lineage and lineage != current.lineage:
        raise Conflict(f"lineage {lineage} does not match the current lineage {current.lineage}")
