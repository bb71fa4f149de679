"""State versions in DynamoDB. Access patterns: GetItem by id; a workspace's versions newest
first (by_workspace_serial). A new version and the workspace's pointer to it are one
transaction, conditional on the serial growing."""
from __future__ import annotations

from ..domain.errors import Conflict
from ..domain.state_versions import PENDING, StateVersion
from . import base, workspaces
from .models import StateVersionModel as Model


def _from(item: Model) -> StateVersion:
    values = {name: getattr(item, name) for name in StateVersion.__dataclass_fields__}
    values.update(serial=int(item.serial), size=int(item.size), resources=int(item.resources or 0),
                  outputs=base.plain(item.outputs))
    return StateVersion(**values)


def find(sv_id: str) -> StateVersion | None:
    return base.find(Model, _from, sv_id)


def insert_current(sv: StateVersion, replaces: str | None) -> None:
    """Store the version and make it the workspace's current one in place of `replaces`, or
    neither."""
    owner, actions, condition = workspaces.current_state_update(sv.workspace_id, sv.id, sv.serial,
                                                                sv.resources, replaces)
    with base.conditional("a newer state version was stored concurrently", error=Conflict):
        with base.transaction() as tx:
            tx.save(Model(**vars(sv)), condition=Model.id.does_not_exist())
            tx.update(owner, actions=actions, condition=condition)


def insert_pending(sv: StateVersion) -> None:
    """A version waiting for its state: stored, not current."""
    with base.conditional("state version id collision"):
        Model(**vars(sv)).save(condition=Model.id.does_not_exist())


def finalize(sv: StateVersion, replaces: str | None) -> None:
    """The pending version, its state now stored, becomes finalized and current in place of
    `replaces`, or neither (another upload finalized it, or another version became current: 409)."""
    owner, actions, condition = workspaces.current_state_update(sv.workspace_id, sv.id, sv.serial,
                                                                sv.resources, replaces)
    with base.conditional("the state version was finalized, or a newer one stored, concurrently",
                          error=Conflict):
        with base.transaction() as tx:
            done = [Model.status.set(sv.status), Model.size.set(sv.size),
                    Model.resources.set(sv.resources), Model.outputs.set(sv.outputs)]
            if sv.terraform_version:
                done.append(Model.terraform_version.set(sv.terraform_version))
            tx.update(Model(id=sv.id), actions=done, condition=Model.status == PENDING)
            tx.update(owner, actions=actions, condition=condition)


def mark_json(sv_id: str) -> None:
    with base.conditional(f"state version {sv_id} was deleted"):
        Model(id=sv_id).update(actions=[Model.has_json.set(True)], condition=Model.id.exists())


def of_workspace(workspace_id: str) -> list[StateVersion]:
    return [_from(i) for i in Model.by_workspace.query(workspace_id, scan_index_forward=False)]
