"""Workspaces in DynamoDB. Access patterns: GetItem by id; by organization and name, and an
organization's list in name order (by_org_name). The slot (`current_run_id`), the lock and the
current configuration / state version are each changed by one conditional update."""
from __future__ import annotations

from ..domain.workspaces import Workspace
from . import base
from .models import WorkspaceModel as Model

_FIELDS = tuple(Workspace.__dataclass_fields__)
_NUMBERS = ("cv_seq", "current_cv_seq", "run_seq", "job_seq")


def _from(item: Model) -> Workspace:
    values = {name: getattr(item, name) for name in _FIELDS}
    for name in _NUMBERS:
        values[name] = int(values[name] or 0)
    for name in ("current_sv_serial", "current_sv_resources"):
        if values[name] is not None:
            values[name] = int(values[name])
    values["trigger_prefixes"] = list(values["trigger_prefixes"] or [])
    values["tag_names"] = list(values["tag_names"] or [])
    values["engine"] = values["engine"] or "terraform"      # items written before engines
    return Workspace(**values)


def item_of(ws: Workspace) -> Model:
    """The item as read (other storage modules number runs, jobs and versions on it)."""
    return Model(**vars(ws))


def find(workspace_id: str) -> Workspace | None:
    return base.find(Model, _from, workspace_id)


def find_by_name(org: str, name: str) -> Workspace | None:
    return base.first(Model.by_org_name.query(org, Model.name == name, limit=1), _from)


def of_org(org: str, search: str | None = None, tags: list[str] | None = None,
           exclude_tags: list[str] | None = None, prefix: str | None = None) -> list[Workspace]:
    """The organization's workspaces in name order; TFE's search[name] is a partial match,
    search[tags] wants every tag, search[exclude-tags] none (the organization's partition read
    with a filter)."""
    conditions = [Model.name.contains(search)] if search else []
    conditions += [Model.tag_names.contains(tag) for tag in tags or []]
    conditions += [~Model.tag_names.contains(tag) for tag in exclude_tags or []]
    condition = None
    for part in conditions:
        condition = part if condition is None else condition & part
    # a name prefix narrows the key range itself (names are the index's sort key)
    key = Model.name.startswith(prefix) if prefix else None
    return [_from(i) for i in Model.by_org_name.query(org, key, filter_condition=condition)]


def replace_tags(ws: Workspace, tags: list[str], updated_at: str) -> None:
    """The workspace's tags as `tags`, if nothing changed it since it was read."""
    with base.conditional(f"workspace {ws.id} changed concurrently"):
        Model(id=ws.id).update(actions=[Model.tag_names.set(tags), Model.updated_at.set(updated_at)],
                               condition=Model.id.exists() & (Model.updated_at == ws.updated_at))


def insert(ws: Workspace) -> None:
    with base.conditional("workspace id collision"):
        item_of(ws).save(condition=Model.id.does_not_exist())


def update_settings(workspace_id: str, values: dict, updated_at: str) -> None:
    actions = [getattr(Model, name).set(value) if value is not None else getattr(Model, name).remove()
               for name, value in values.items()]
    with base.conditional(f"workspace {workspace_id} was deleted concurrently"):
        Model(id=workspace_id).update(actions=actions + [Model.updated_at.set(updated_at)],
                                      condition=Model.id.exists())


def delete(workspace_id: str) -> None:
    Model(id=workspace_id).delete()


def delete_if_unchanged(ws: Workspace) -> None:
    """Deletes the workspace if it is still unlocked, free of runs and on the same state."""
    condition = Model.id.exists() & (Model.locked == False) & Model.current_run_id.does_not_exist()  # noqa: E712
    condition &= (Model.current_sv_id == ws.current_sv_id) if ws.current_sv_id else Model.current_sv_id.does_not_exist()
    with base.conditional("Workspace is currently locked. Workspace must be unlocked before it can be safely deleted"):
        Model(id=ws.id).delete(condition=condition)


def lock(workspace_id: str, holder: str, reason: str) -> None:
    with base.conditional("workspace is already locked"):
        Model(id=workspace_id).update(
            actions=[Model.locked.set(True), Model.locked_by.set(holder), Model.lock_reason.set(reason)],
            # not while a run holds it (a run taking it meanwhile makes this fail: 409)
            condition=Model.id.exists() & (Model.locked == False)  # noqa: E712 - a condition
            & ~Model.current_run_id.startswith("run-"))


def unlock(workspace_id: str, holder: str | None) -> None:
    """`holder` None: force-unlock, whoever holds it."""
    condition = Model.locked == True  # noqa: E712 - a condition
    if holder is not None:
        condition &= Model.locked_by == holder
    with base.conditional("workspace lock changed concurrently"):
        Model(id=workspace_id).update(actions=[Model.locked.set(False), Model.locked_by.remove(),
                                               Model.lock_reason.remove()], condition=condition)


def claim_slot(workspace_id: str, holder: str) -> None:
    """The run or job `holder` takes the free, unlocked workspace (Conflict otherwise)."""
    with base.conditional(f"workspace {workspace_id} is held or locked"):
        Model(id=workspace_id).update(
            actions=[Model.current_run_id.set(holder)],
            condition=Model.current_run_id.does_not_exist() & (Model.locked == False))  # noqa: E712


def release_slot(workspace_id: str, holder: str) -> None:
    """Free the workspace if `holder` still holds it (Conflict otherwise)."""
    with base.conditional(f"workspace {workspace_id} is not held by {holder}"):
        Model(id=workspace_id).update(actions=[Model.current_run_id.remove()],
                                      condition=Model.current_run_id == holder)


def promote_cv(workspace_id: str, cv_id: str, seq: int) -> None:
    """The version becomes current unless a newer one already is (Conflict then)."""
    with base.conditional(f"a newer configuration version of {workspace_id} is current"):
        Model(id=workspace_id).update(
            actions=[Model.current_cv_id.set(cv_id), Model.current_cv_seq.set(seq)],
            condition=Model.id.exists() & (Model.current_cv_seq.does_not_exist()
                                           | (Model.current_cv_seq < seq)))


def current_state_update(workspace_id: str, sv_id: str, serial: int, resources: int,
                         replaces: str | None):
    """The update that makes a state version current, for a transaction (state_versions), on
    the condition that the current one is still `replaces` (the version the new one was
    checked against: domain/state_versions.check_successor)."""
    still = (Model.current_sv_id == replaces) if replaces else Model.current_sv_id.does_not_exist()
    return (Model(id=workspace_id),
            [Model.current_sv_id.set(sv_id), Model.current_sv_serial.set(serial),
             Model.current_sv_resources.set(resources)],
            still & (Model.current_sv_serial.does_not_exist() | (Model.current_sv_serial <= serial)))

