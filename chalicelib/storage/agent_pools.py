"""Agent pools in DynamoDB. Access patterns: GetItem by id; an organization's pools in name
order (by_org_name)."""
from __future__ import annotations

from ..domain.agent_pools import AgentPool
from . import base
from .agent_models import AgentPoolModel as Model


def _from(item: Model) -> AgentPool:
    values = {name: getattr(item, name) for name in AgentPool.__dataclass_fields__}
    values["allowed_workspace_ids"] = list(values["allowed_workspace_ids"] or [])
    values["excluded_workspace_ids"] = list(values["excluded_workspace_ids"] or [])
    return AgentPool(**values)


def find(pool_id: str) -> AgentPool | None:
    return base.find(Model, _from, pool_id)


def of_org(org: str) -> list[AgentPool]:
    return [_from(item) for item in Model.by_org_name.query(org)]


def insert(pool: AgentPool) -> None:
    with base.conditional("agent pool id collision"):
        Model(**vars(pool)).save(condition=Model.id.does_not_exist())


def update(pool_id: str, values: dict) -> None:
    actions = [getattr(Model, name).set(value) for name, value in values.items()]
    with base.conditional(f"agent pool {pool_id} was deleted concurrently"):
        Model(id=pool_id).update(actions=actions, condition=Model.id.exists())


def delete(pool_id: str) -> None:
    Model(id=pool_id).delete()
