"""State versions: each apply's resulting state, and states pushed through the API.

The state file lives in S3 (storage/keys.py `state`); DynamoDB keeps serial, lineage, md5 and
outputs. A new version must have a higher serial than the current one and the same lineage (a
conflict is 409); the workspace's current version moves in the same transaction."""
from __future__ import annotations

import base64
import hashlib

from ..aws import blobs
from ..config import settings
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.ids import new_id
from ..domain.state_versions import StateVersion, check_successor, outputs_of, parse_state
from ..domain.workspaces import Workspace
from ..storage import keys
from ..storage import state_versions as store
from . import workspaces


def store_state(ws: Workspace, raw: bytes, *, run_id: str | None, created_by: str | None,
                check_lineage: bool = True, serial: int | None = None) -> StateVersion:
    """`serial`: the version's serial as the API client declared it (else the file's)."""
    state = parse_state(raw)
    serial, lineage = (state["serial"] if serial is None else serial), state.get("lineage")
    check_successor(current_version(ws), serial, lineage, check_lineage=check_lineage)
    sv_id = new_id("sv")
    blobs.put(keys.state(ws.id, sv_id), raw, length=len(raw), content_type="application/json")
    sv = StateVersion(
        id=sv_id, workspace_id=ws.id, org=ws.org, serial=serial, lineage=lineage,
        md5=hashlib.md5(raw).hexdigest(), size=len(raw), run_id=run_id,  # noqa: S324 - TFE's field
        created_at=now_iso(), created_by=created_by, terraform_version=state.get("terraform_version"),
        resources=len(state.get("resources") or []), outputs=outputs_of(state))
    store.insert_current(sv)
    return sv


def current_version(ws: Workspace) -> StateVersion | None:
    return store.find(ws.current_sv_id) if ws.current_sv_id else None


def current_state_bytes(ws: Workspace) -> bytes | None:
    sv = current_version(ws)
    return blobs.read(keys.state(ws.id, sv.id)) if sv else None


# -- API -----------------------------------------------------------------------------------------

def get(principal: Principal, sv_id: str) -> StateVersion:
    sv = store.find(sv_id)
    if sv is None or not principal.can_see_org(sv.org):
        raise NotFound(f"state version {sv_id} not found")
    return sv


def current(principal: Principal, workspace_id: str) -> StateVersion:
    sv = current_version(workspaces.get(principal, workspace_id))
    if sv is None:
        raise NotFound(f"workspace {workspace_id} has no state version")
    return sv


def list_for(principal: Principal, workspace_id: str, page: int, size: int):
    items = store.of_workspace(workspaces.get(principal, workspace_id).id)
    return items[(page - 1) * size: page * size], len(items)


def download(principal: Principal, sv_id: str) -> bytes:
    sv = get(principal, sv_id)
    return blobs.read(keys.state(sv.workspace_id, sv.id))


def download_url(sv: StateVersion) -> str:
    return blobs.presign_get(keys.state(sv.workspace_id, sv.id), ttl=settings().download_url_ttl)


def create(principal: Principal, workspace_id: str, attrs: dict) -> StateVersion:
    """POST /workspaces/:id/state-versions (terraform state push, the remote backend)."""
    ws = workspaces.get(principal, workspace_id)
    if not ws.locked:
        raise Conflict("the workspace must be locked to create a state version")
    encoded = attrs.get("state")
    if not isinstance(encoded, str):
        raise Unprocessable("state (base64) is required", pointer="/data/attributes/state")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise Unprocessable("state is not valid base64", pointer="/data/attributes/state") from None
    md5 = attrs.get("md5")
    if not isinstance(md5, str) or hashlib.md5(raw).hexdigest() != md5:  # noqa: S324
        raise Unprocessable("md5 does not match the state", pointer="/data/attributes/md5")
    state = parse_state(raw)
    # The declared serial is the version's, even where it differs from the file's: HCP Terraform
    # and OTF accept such pairs (go-tfe's state-version tests send them; migration tools upload
    # every state as serial 1), and the ordering of versions follows the declared serial.
    declared = attrs.get("serial")
    if declared is not None and (not isinstance(declared, int) or isinstance(declared, bool) or declared < 0):
        raise Unprocessable("serial must be a non-negative integer", pointer="/data/attributes/serial")
    if attrs.get("lineage") is not None and attrs.get("lineage") != state.get("lineage"):
        raise Unprocessable("lineage does not match the state", pointer="/data/attributes/lineage")
    return store_state(ws, raw, run_id=None, created_by=principal.user_id,
                       check_lineage=not attrs.get("force", False), serial=declared)
