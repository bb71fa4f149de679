"""Workspaces: CRUD, listing by organization, and the lock."""
from __future__ import annotations

from typing import Iterator

from pynamodb.exceptions import DoesNotExist

from ..domain import workspaces as rules
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import NotFound, Unprocessable
from ..domain.ids import new_id
from ..storage.models import WorkspaceModel
from ..storage.repositories import conditional
from . import hooks, identity


def get(principal: Principal, workspace_id: str) -> WorkspaceModel:
    try:
        ws = WorkspaceModel.get(workspace_id)
    except DoesNotExist:
        raise NotFound(f"workspace {workspace_id} not found") from None
    principal.require_org(ws.org, what="workspace", ident=workspace_id)
    return ws


def get_by_name(principal: Principal, org: str, name: str) -> WorkspaceModel:
    principal.require_org(org, what="workspace", ident=f"{org}/{name}")
    found = list(WorkspaceModel.by_org_name.query(org, WorkspaceModel.name == name, limit=1))
    if not found:
        raise NotFound(f"workspace {org}/{name} not found")
    return found[0]


def list_all_in_org(org: str) -> Iterator[WorkspaceModel]:
    return WorkspaceModel.by_org_name.query(org)


def list_in_org(principal: Principal, org: str, search: str | None) -> list[WorkspaceModel]:
    identity.get_org(principal, org)
    if search:
        # TFE's search[name] is a partial match; the org partition is read with a filter.
        return list(WorkspaceModel.by_org_name.query(
            org, filter_condition=WorkspaceModel.name.contains(search)))
    return list(WorkspaceModel.by_org_name.query(org))


def create(principal: Principal, org: str, attrs: dict) -> WorkspaceModel:
    identity.get_org(principal, org)
    name = rules.validate_name(attrs.get("name"))
    values = rules.validate_settings(attrs)
    if list(WorkspaceModel.by_org_name.query(org, WorkspaceModel.name == name, limit=1)):
        raise Unprocessable(f"workspace name {name} has already been taken",
                            pointer="/data/attributes/name")
    stamp = now_iso()
    ws = WorkspaceModel(id=new_id("ws"), org=org, name=name, created_at=stamp, updated_at=stamp,
                        **values)
    with conditional("workspace id collision"):
        ws.save(condition=WorkspaceModel.id.does_not_exist())
    return ws


def update(principal: Principal, ws: WorkspaceModel, attrs: dict) -> WorkspaceModel:
    values = rules.validate_settings(attrs)
    if "name" in attrs and attrs["name"] != ws.name:
        name = rules.validate_name(attrs["name"])
        if list(WorkspaceModel.by_org_name.query(ws.org, WorkspaceModel.name == name, limit=1)):
            raise Unprocessable(f"workspace name {name} has already been taken",
                                pointer="/data/attributes/name")
        values["name"] = name
    if values:
        actions = [getattr(WorkspaceModel, field).set(value) for field, value in values.items()]
        actions.append(WorkspaceModel.updated_at.set(now_iso()))
        with conditional(f"workspace {ws.id} was deleted concurrently"):
            ws.update(actions=actions, condition=WorkspaceModel.id.exists())
    return ws


def delete(principal: Principal, ws: WorkspaceModel) -> None:
    ws.delete()


def lock(principal: Principal, ws: WorkspaceModel, reason: str | None) -> WorkspaceModel:
    rules.check_lock(ws.locked)
    holder = principal.user_id or principal.token_id
    with conditional("workspace is already locked"):
        ws.update(actions=[WorkspaceModel.locked.set(True), WorkspaceModel.locked_by.set(holder),
                           WorkspaceModel.lock_reason.set(reason or "")],
                  condition=WorkspaceModel.locked == False)  # noqa: E712 - pynamodb condition
    return ws


def unlock(principal: Principal, ws: WorkspaceModel, *, force: bool) -> WorkspaceModel:
    holder = principal.user_id or principal.token_id
    rules.check_unlock(ws.locked, ws.locked_by, holder, force=force)
    condition = WorkspaceModel.locked == True  # noqa: E712
    if not force:
        condition &= WorkspaceModel.locked_by == holder
    with conditional("workspace lock changed concurrently"):
        ws.update(actions=[WorkspaceModel.locked.set(False), WorkspaceModel.locked_by.remove(),
                           WorkspaceModel.lock_reason.remove()], condition=condition)
    hooks.workspace_unlocked(ws.id)
    return ws
