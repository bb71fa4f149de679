"""State versions: each apply's resulting state, and states pushed through the API.

The state file lives in S3 (`state/<workspace>/<sv>.tfstate`); DynamoDB keeps serial, lineage,
md5 and outputs. A new version must have a higher serial than the current one and the same
lineage (a conflict is 409); the workspace's current version moves in the same transaction."""
from __future__ import annotations

import base64
import hashlib
import json

from pynamodb.exceptions import TransactWriteError

from ..aws import blobs
from ..config import settings
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.ids import new_id
from ..storage.models import StateVersionModel, WorkspaceModel
from ..storage.repositories import transaction
from . import workspaces


def state_key(workspace_id: str, sv_id: str) -> str:
    return f"state/{workspace_id}/{sv_id}.tfstate"


def parse_state(raw: bytes) -> dict:
    try:
        state = json.loads(raw)
    except ValueError:
        raise Unprocessable("the state is not valid JSON", pointer="/data/attributes/state") from None
    if not isinstance(state, dict) or not isinstance(state.get("serial"), int):
        raise Unprocessable("the state has no serial", pointer="/data/attributes/state")
    return state


def _outputs(state: dict) -> dict:
    return {name: {"value": o.get("value"), "type": o.get("type"), "sensitive": bool(o.get("sensitive"))}
            for name, o in (state.get("outputs") or {}).items()}


def store(ws: WorkspaceModel, raw: bytes, *, run_id: str | None, created_by: str | None,
          expected_lineage_check: bool = True) -> StateVersionModel:
    state = parse_state(raw)
    serial, lineage = state["serial"], state.get("lineage")
    current = get_current_model(ws)
    if current is not None:
        if serial <= int(current.serial):
            raise Conflict(f"serial {serial} is not greater than the current serial {int(current.serial)}")
        if expected_lineage_check and current.lineage and lineage and lineage != current.lineage:
            raise Conflict(f"lineage {lineage} does not match the current lineage {current.lineage}")
    sv_id = new_id("sv")
    blobs.put(state_key(ws.id, sv_id), raw, length=len(raw), content_type="application/json")
    sv = StateVersionModel(
        id=sv_id, workspace_id=ws.id, org=ws.org, serial=serial, lineage=lineage,
        md5=hashlib.md5(raw).hexdigest(), size=len(raw), run_id=run_id,  # noqa: S324 - TFE's field
        created_at=now_iso(), created_by=created_by, terraform_version=state.get("terraform_version"),
        resources=len(state.get("resources") or []), outputs=_outputs(state))
    try:
        with transaction() as tx:
            tx.save(sv, condition=StateVersionModel.id.does_not_exist())
            tx.update(WorkspaceModel(id=ws.id), actions=[
                WorkspaceModel.current_sv_id.set(sv_id), WorkspaceModel.current_sv_serial.set(serial)],
                condition=WorkspaceModel.current_sv_serial.does_not_exist()
                | (WorkspaceModel.current_sv_serial < serial))
    except TransactWriteError as exc:
        raise Conflict("a newer state version was stored concurrently") from exc
    return sv


def get_current_model(ws: WorkspaceModel) -> StateVersionModel | None:
    if not ws.current_sv_id:
        return None
    try:
        return StateVersionModel.get(ws.current_sv_id)
    except StateVersionModel.DoesNotExist:
        return None


def current_state_bytes(ws: WorkspaceModel) -> bytes | None:
    sv = get_current_model(ws)
    return blobs.read(state_key(ws.id, sv.id)) if sv else None


# -- API -----------------------------------------------------------------------------------------

def get(principal: Principal, sv_id: str) -> StateVersionModel:
    try:
        sv = StateVersionModel.get(sv_id)
    except StateVersionModel.DoesNotExist:
        raise NotFound(f"state version {sv_id} not found") from None
    if not principal.can_see_org(sv.org):
        raise NotFound(f"state version {sv_id} not found")
    return sv


def current(principal: Principal, workspace_id: str) -> StateVersionModel:
    ws = workspaces.get(principal, workspace_id)
    sv = get_current_model(ws)
    if sv is None:
        raise NotFound(f"workspace {workspace_id} has no state version")
    return sv


def list_for(principal: Principal, workspace_id: str, page: int, size: int):
    ws = workspaces.get(principal, workspace_id)
    items = list(StateVersionModel.by_workspace.query(ws.id, scan_index_forward=False))
    return items[(page - 1) * size: page * size], len(items)


def download(principal: Principal, sv_id: str) -> bytes:
    sv = get(principal, sv_id)
    return blobs.read(state_key(sv.workspace_id, sv.id))


def download_url(sv: StateVersionModel) -> str:
    return blobs.presign_get(state_key(sv.workspace_id, sv.id), ttl=settings().download_url_ttl)


def create(principal: Principal, workspace_id: str, attrs: dict) -> StateVersionModel:
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
    if attrs.get("serial") is not None and attrs.get("serial") != state["serial"]:
        raise Unprocessable("serial does not match the state", pointer="/data/attributes/serial")
    if attrs.get("lineage") is not None and attrs.get("lineage") != state.get("lineage"):
        raise Unprocessable("lineage does not match the state", pointer="/data/attributes/lineage")
    return store(ws, raw, run_id=None, created_by=principal.user_id,
                 expected_lineage_check=not attrs.get("force", False))
