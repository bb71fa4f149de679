"""Workspaces: CRUD, listing by organization, and the lock."""
from __future__ import annotations

from ..domain import workspaces as rules
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.ids import new_id
from ..domain.workspaces import Workspace
from ..storage import agent_pools as pool_store
from ..storage import workspaces as store
from . import hooks, identity


def get(principal: Principal, workspace_id: str) -> Workspace:
    ws = store.find(workspace_id)
    if ws is None:
        raise NotFound(f"workspace {workspace_id} not found")
    principal.require_org(ws.org, what="workspace", ident=workspace_id)
    return ws


def get_in_org(principal: Principal, org: str, workspace_id: str) -> Workspace:
    """Terrakube names the organization and the workspace: they must agree (404 otherwise)."""
    ws = get(principal, workspace_id)
    if ws.org != org:
        raise NotFound(f"workspace {workspace_id} not found")
    return ws


def get_by_name(principal: Principal, org: str, name: str) -> Workspace:
    principal.require_org(org, what="workspace", ident=f"{org}/{name}")
    ws = store.find_by_name(org, name)
    if ws is None:
        raise NotFound(f"workspace {org}/{name} not found")
    return ws


def list_in_org(principal: Principal, org: str, search: str | None, tags: str | None = None,
                exclude_tags: str | None = None, wildcard_name: str | None = None) -> list[Workspace]:
    """`tags` / `exclude_tags`: comma-separated, as go-tfe sends search[tags];
    `wildcard_name`: HCP's search[wildcard-name] ("*-prod")."""
    identity.get_org(principal, org)
    found = store.of_org(org, search, _tag_list(tags, "search[tags]"),
                         _tag_list(exclude_tags, "search[exclude-tags]"),
                         rules.wildcard(wildcard_name)[0] if wildcard_name else None)
    if wildcard_name:
        found = [ws for ws in found if rules.matches_wildcard(ws.name, wildcard_name)]
    return found


def _tag_list(raw: str | None, pointer: str) -> list[str] | None:
    if not raw:
        return None
    return rules.validate_tags([t.strip() for t in raw.split(",") if t.strip()], pointer)


def change_tags(principal: Principal, ws: Workspace, names: list[str], ids: list[str] = (), *,
                add: bool, attempts: int = 5) -> Workspace:
    """Adds or removes tags, given by name or by the id of a tag of the organization; a
    concurrent change of the workspace is read again and retried."""
    wanted = rules.validate_tags(list(names) + _tag_names_of(ws.org, ids), "/data")
    for attempt in range(attempts):
        current = list(ws.tag_names or [])
        if add:
            tags = current + [t for t in wanted if t not in current]
        else:
            tags = [t for t in current if t not in wanted]
        rules.validate_tags(tags, "/data")
        if tags == current:
            return ws
        stamp = now_iso()
        try:
            store.replace_tags(ws, tags, stamp)
        except Conflict:
            if attempt == attempts - 1:
                raise
            ws = get(principal, ws.id)
            continue
        ws.tag_names, ws.updated_at = tags, stamp
        return ws
    return ws


def _tag_names_of(org: str, ids) -> list[str]:
    """Tags named by id: a tag's id is derived from its organization and name (tag_id), so the
    organization's tags are read (its workspaces' partition) to find the names; an id no
    workspace of the organization carries is 422."""
    if not ids:
        return []
    known = {rules.tag_id(org, tag): tag for ws in store.of_org(org) for tag in ws.tag_names or []}
    missing = [i for i in ids if i not in known]
    if missing:
        raise Unprocessable(f"no tag {missing[0][:40]!r} in this organization", pointer="/data")
    return [known[i] for i in ids]


def _refuse_taken(org: str, name: str) -> None:
    if store.find_by_name(org, name) is not None:
        raise Unprocessable(f"workspace name {name} has already been taken",
                            pointer="/data/attributes/name")


def check_pool(org: str, pool_id: str | None, workspace_id: str | None,
               pointer: str = "/data/attributes/agent-pool-id") -> None:
    """An agent pool a workspace (or its organization's default) names: a pool of that
    organization that serves the workspace; another organization's pool does not exist here."""
    if not pool_id:
        return
    pool = pool_store.find(pool_id) if pool_id.startswith("apool-") else None
    if pool is None or pool.org != org:
        raise Unprocessable(f"agent pool {pool_id[:40]} is not a pool of this organization", pointer=pointer)
    if workspace_id and not pool.serves(workspace_id):
        raise Unprocessable(f"agent pool {pool.name} does not serve this workspace (allow it there)",
                            pointer=pointer)


def create(principal: Principal, org: str, attrs: dict) -> Workspace:
    organization = identity.get_org(principal, org)
    name = rules.validate_name(attrs.get("name"))
    values = rules.settle_execution(rules.validate_settings(attrs), attrs, current=None, org_default=(
        organization.default_execution_mode, organization.default_agent_pool_id))
    _refuse_taken(org, name)
    stamp = now_iso()
    ws = Workspace(id=new_id("ws"), org=org, name=name, created_at=stamp, updated_at=stamp, **values)
    check_pool(org, ws.agent_pool_id, ws.id)
    store.insert(ws)
    return ws


def update(principal: Principal, ws: Workspace, attrs: dict) -> Workspace:
    values = rules.validate_settings(attrs)
    if "execution_mode" in values or "agent_pool_id" in values or "setting-overwrites" in attrs:
        organization = identity.get_org(principal, ws.org)
        values = rules.settle_execution(values, attrs, current=ws, org_default=(
            organization.default_execution_mode, organization.default_agent_pool_id))
        check_pool(ws.org, values.get("agent_pool_id"), ws.id)
    if "name" in attrs and attrs["name"] != ws.name:
        values["name"] = rules.validate_name(attrs["name"])
        _refuse_taken(ws.org, values["name"])
    if values:
        stamp = now_iso()
        store.update_settings(ws.id, values, stamp)
        for field, value in {**values, "updated_at": stamp}.items():
            setattr(ws, field, value)
    return ws


def follow_org_defaults(org: str, mode: str, pool_id: str | None) -> int:
    """An organization's new defaults reach its workspaces that defer to them (their
    setting-overwrites off): one conditional update each; returns how many changed."""
    changed = 0
    for ws in store.of_org(org):
        if not ws.setting_overwrites and (ws.execution_mode, ws.agent_pool_id) != (mode, pool_id):
            store.update_settings(ws.id, {"execution_mode": mode, "agent_pool_id": pool_id}, now_iso())
            changed += 1
    return changed


def delete(principal: Principal, ws: Workspace) -> None:
    store.delete(ws.id)
    hooks.workspace_deleted(ws.id)


def safe_delete(principal: Principal, ws: Workspace) -> None:
    """Deletes the workspace only if it is unlocked, no run holds it and its current state
    manages no resources; the delete is conditional on all three still holding."""
    managed = ws.current_sv_resources
    if managed is None and ws.current_sv_id:      # a state made current before the count was kept
        from . import state_versions  # lazy: a cycle (state_versions reads workspaces through this module)
        current = state_versions.current_version(ws)
        managed = current.resources if current else 0
    rules.check_safe_delete(ws, managed or 0)
    store.delete_if_unchanged(ws)
    hooks.workspace_deleted(ws.id)


def _holder(principal: Principal) -> str:
    return principal.user_id or principal.token_id


def lock(principal: Principal, ws: Workspace, reason: str | None) -> Workspace:
    rules.check_lock(ws)
    store.lock(ws.id, _holder(principal), reason or "")
    ws.locked, ws.locked_by, ws.lock_reason = True, _holder(principal), reason or ""
    return ws


def unlock(principal: Principal, ws: Workspace, *, force: bool) -> Workspace:
    rules.check_unlock(ws, _holder(principal), force=force)
    store.unlock(ws.id, None if force else _holder(principal))
    ws.locked, ws.locked_by, ws.lock_reason = False, None, None
    hooks.workspace_unlocked(ws.id)
    return ws
