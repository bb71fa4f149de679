"""Consul-Terraform-Sync tasks on the run engine: each task is backed by a workspace of the
CTS organization (TERRALESS_CTS_ORGANIZATION), named after the task."""
from __future__ import annotations

from ..config import settings
from ..domain import tasks as rules
from ..domain.access import Principal
from ..domain.clock import now_iso
from ..domain.errors import BadRequest, Conflict, NotFound
from ..storage.models import OrganizationModel, TaskModel, WorkspaceModel
from ..storage.repositories import conditional
from . import hooks, identity, workspaces


def organization(principal: Principal) -> str:
    org = settings().cts_organization
    principal.require_org(org)
    try:
        OrganizationModel.get(org)
    except OrganizationModel.DoesNotExist:
        if not principal.site_admin:
            raise NotFound(f"organization {org} not found") from None
        identity.create_org(principal, org, "cts@terraless.local")
    return org


def _definition(item: TaskModel) -> dict:
    return item.definition.as_dict() if hasattr(item.definition, "as_dict") else dict(item.definition)


def list_tasks(principal: Principal) -> list[dict]:
    org = organization(principal)
    return [_definition(t) for t in TaskModel.query(org) if not t.deleting]


def get(principal: Principal, name: str) -> TaskModel:
    org = organization(principal)
    try:
        task = TaskModel.get(org, name)
    except TaskModel.DoesNotExist:
        raise NotFound(f"task '{name}' not found") from None
    if task.deleting:
        raise NotFound(f"task '{name}' is marked for deletion")
    return task


def create(principal: Principal, body: object) -> dict:
    if not isinstance(body, dict) or set(body) - {"task"}:
        raise BadRequest("the request body must be {\"task\": {...}}")
    definition = rules.normalize(body.get("task"))
    org = organization(principal)
    name = definition["name"]
    try:
        TaskModel.get(org, name)
        raise Conflict(f"task with name {name} already exists")
    except TaskModel.DoesNotExist:
        pass
    try:   # a task deleted earlier left its workspace (and state): a new task takes it over
        ws = workspaces.get_by_name(principal, org, name)
    except NotFound:
        ws = workspaces.create(principal, org, {"name": name, "auto-apply": True,
                                                "description": f"Consul-Terraform-Sync task {name}"})
    task = TaskModel(org=org, name=name, definition=definition, workspace_id=ws.id,
                     created_at=now_iso())
    with conditional(f"task with name {name} already exists"):
        task.save(condition=TaskModel.name.does_not_exist())
    return definition


def set_enabled(principal: Principal, name: str, body: object) -> dict:
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise BadRequest("only 'enabled' (a boolean) can be updated")
    task = get(principal, name)
    definition = {**_definition(task), "enabled": body["enabled"]}
    with conditional(f"task '{name}' changed concurrently"):
        task.update(actions=[TaskModel.definition.set(definition)],
                    condition=TaskModel.deleting == False)  # noqa: E712
    return definition


def delete(principal: Principal, name: str) -> None:
    """Marked for deletion; deleted at once when its workspace has no active run (a running
    task is deleted when its run ends)."""
    task = get(principal, name)
    task.update(actions=[TaskModel.deleting.set(True)])
    try:
        ws = WorkspaceModel.get(task.workspace_id)
    except WorkspaceModel.DoesNotExist:
        ws = None
    if ws is None or not ws.current_run_id:
        task.delete()


@hooks.on_run_finished
def _finish_deferred_deletion(run) -> None:
    """A task marked for deletion while its run was active goes when the run ends."""
    try:
        ws = WorkspaceModel.get(run.workspace_id)
        task = TaskModel.get(ws.org, ws.name)
    except (WorkspaceModel.DoesNotExist, TaskModel.DoesNotExist):
        return
    if task.deleting and task.workspace_id == ws.id:
        task.delete()
