"""pynamodb models of agent pools (infra/resources.yaml: AgentPoolsTable)."""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, ListAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from .schema import index_meta, meta


class AgentPoolsByOrgName(GlobalSecondaryIndex):
    Meta = index_meta("by_org_name")
    org = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class AgentPoolModel(Model):
    """GetItem by id; an organization's pools in name order: Query by_org_name."""
    Meta = meta("agent-pools")
    id = UnicodeAttribute(hash_key=True)
    org = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    organization_scoped = BooleanAttribute(default=True)
    allowed_workspace_ids = ListAttribute(of=UnicodeAttribute, default=list)
    excluded_workspace_ids = ListAttribute(of=UnicodeAttribute, default=list)
    by_org_name = AgentPoolsByOrgName()
