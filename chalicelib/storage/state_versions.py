"""State versions in DynamoDB. Access patterns: GetItem by id; a workspace's versions newest
first (by_workspace_serial). A new version and the workspace's pointer to it are one
transaction, conditional on the serial growing."""
from __future__ import annotations

from ..domain.errors import Conflict
from ..domain.state_versions import StateVersion
from . import base, workspaces
from .models import StateVersionModel as Model


def _from(item: Model) -> StateVersion:
    values = {name: getattr(item, name) for name in StateVersion.__dataclass_fields__}
    values.update(serial=int(item.serial), size=int(item.size), resources=int(item.resources or 0),
                  outputs=base.plain(item.outputs))
    return StateVersion(**values)


def find(sv_id: str) -> StateVersion | None:
    return base.find(Model, _from, sv_id)


def insert_current(sv: StateVersion) -> None:
    """Store the version and make it the workspace's current one, or neither."""
    owner, actions, condition = workspaces.current_state_update(sv.workspace_id, sv.id, sv.serial)
    with base.conditional("a newer state version was stored concurrently", error=Conflict):
        with base.transaction() as tx:
            tx.save(Model(**vars(sv)), condition=Model.id.does_not_exist())
            tx.update(owner, actions=actions, condition=condition)


def of_workspace(workspace_id: str) -> list[StateVersion]:
    return [_from(i) for i in Model.by_workspace.query(workspace_id, scan_index_forward=False)]
