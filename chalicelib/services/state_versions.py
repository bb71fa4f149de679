"""State versions: each apply's resulting state, and states pushed through the API.

The state file lives in S3 (storage/keys.py `state`); DynamoDB keeps serial, lineage, md5 and
outputs. A new version must have a higher serial than the current one and the same lineage (a
conflict is 409); the workspace's current version moves in the same transaction."""
from __future__ import annotations

import base64
import hashlib
import json

from ..aws import blobs
from ..config import settings
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.ids import new_id
from ..domain.state_versions import (FINALIZED, PENDING, StateVersion, check_pending, check_successor,
                                     outputs_of, parse_state)
from ..domain.workspaces import Workspace
from ..storage import keys
from ..storage import state_versions as store
from ..storage import workspaces as workspace_store
from . import signing, workspaces


def store_state(ws: Workspace, raw: bytes, *, run_id: str | None, created_by: str | None,
                check_lineage: bool = True, serial: int | None = None,
                lineage: str | None = None) -> StateVersion:
    """`serial`, `lineage`: the version's as the API client declared them (else the file's)."""
    state = parse_state(raw)
    serial = state["serial"] if serial is None else serial
    lineage = lineage or state.get("lineage")
    md5 = hashlib.md5(raw).hexdigest()  # noqa: S324 - TFE's field
    check_successor(current_version(ws), serial, lineage, check_lineage=check_lineage, md5=md5)
    sv_id = new_id("sv")
    blobs.put(keys.state(ws.id, sv_id), raw, length=len(raw), content_type="application/json")
    sv = StateVersion(
        id=sv_id, workspace_id=ws.id, org=ws.org, serial=serial, lineage=lineage,
        md5=md5, size=len(raw), run_id=run_id,
        created_at=now_iso(), created_by=created_by, terraform_version=state.get("terraform_version"),
        resources=len(state.get("resources") or []), outputs=outputs_of(state))
    store.insert_current(sv, ws.current_sv_id)
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
    if sv.status == PENDING:
        raise NotFound(f"state version {sv_id} has no state yet: it is pending its upload")
    return blobs.read(keys.state(sv.workspace_id, sv.id))


def download_url(sv: StateVersion) -> str:
    return blobs.presign_get(keys.state(sv.workspace_id, sv.id), ttl=settings().download_url_ttl)


def create(principal: Principal, workspace_id: str, attrs: dict) -> StateVersion:
    """POST /workspaces/:id/state-versions (terraform state push, the remote backend); without
    `state`, a pending version whose state is then PUT to its upload URL (terraform >= 1.6)."""
    ws = workspaces.get(principal, workspace_id)
    if not ws.locked:
        raise Conflict("the workspace must be locked to create a state version")
    encoded = attrs.get("state")
    if encoded is None:
        return _create_pending(principal, ws, attrs)
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
    lineage = attrs.get("lineage")
    if lineage is not None and (not isinstance(lineage, str) or len(lineage) > 128):
        raise Unprocessable("lineage must be a string", pointer="/data/attributes/lineage")
    # the declared lineage is the version's too (as its serial; HCP keeps both as declared)
    return store_state(ws, raw, run_id=None, created_by=principal.user_id,
                       check_lineage=not attrs.get("force", False), serial=declared, lineage=lineage)


# -- the two-step upload (go-tfe's StateVersions.Upload) ----------------------------------------

UPLOAD_PURPOSE, JSON_UPLOAD_PURPOSE = "state-upload", "state-json-upload"


def _create_pending(principal: Principal, ws: Workspace, attrs: dict) -> StateVersion:
    serial, md5, lineage = check_pending(attrs)
    check_successor(current_version(ws), serial, lineage, check_lineage=not attrs.get("force", False), md5=md5)
    sv = StateVersion(id=new_id("sv"), workspace_id=ws.id, org=ws.org, serial=serial, lineage=lineage,
                      md5=md5, size=0, created_at=now_iso(), created_by=principal.user_id, status=PENDING)
    store.insert_pending(sv)
    return sv


def upload_urls(sv: StateVersion) -> tuple[str | None, str | None]:
    """Where a pending version's state and its JSON form are PUT (signed, no token needed:
    go-tfe sends none there)."""
    if sv.status != PENDING:
        return None, None
    s = settings()
    return tuple(f"{s.public_url}/_archivist/v1/state/{purpose}/"  # type: ignore[return-value]
                 f"{signing.sign(purpose, sv.org, sv.id, s.upload_url_ttl)}"
                 for purpose in (UPLOAD_PURPOSE, JSON_UPLOAD_PURPOSE))


def _pending_of(purpose: str, credential: str) -> StateVersion:
    org, sv_id = signing.verify(purpose, credential)
    sv = store.find(sv_id)
    if sv is None or sv.org != org:
        raise NotFound("unknown upload URL")
    return sv


def receive_state(credential: str, raw: bytes) -> StateVersion:
    """The state of a pending version: checked against what its creator declared, stored, and
    the version finalized and made current in one transaction."""
    sv = _pending_of(UPLOAD_PURPOSE, credential)
    state = sv.check_upload(raw, hashlib.md5(raw).hexdigest())  # noqa: S324 - TFE's field
    ws = workspace_store.find(sv.workspace_id)
    if ws is None:
        raise NotFound("unknown upload URL")
    check_successor(current_version(ws), sv.serial, sv.lineage, check_lineage=False, md5=sv.md5)  # lineage: at creation
    blobs.put(keys.state(ws.id, sv.id), raw, length=len(raw), content_type="application/json")
    sv.status, sv.size, sv.terraform_version = FINALIZED, len(raw), state.get("terraform_version")
    sv.resources, sv.outputs = len(state.get("resources") or []), outputs_of(state)
    store.finalize(sv, ws.current_sv_id)
    return sv


def receive_json_state(credential: str, raw: bytes) -> None:
    """Terraform's JSON form of the state (`terraform show -json`), kept beside it."""
    sv = _pending_of(JSON_UPLOAD_PURPOSE, credential)
    try:
        json.loads(raw)
    except ValueError:
        raise Unprocessable("the JSON state is not JSON") from None
    blobs.put(keys.state_json(sv.workspace_id, sv.id), raw, length=len(raw), content_type="application/json")
    store.mark_json(sv.id)


def json_download_url(sv: StateVersion) -> str | None:
    if not sv.has_json:
        return None
    return blobs.presign_get(keys.state_json(sv.workspace_id, sv.id), ttl=settings().download_url_ttl)
