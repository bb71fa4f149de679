"""pynamodb models of agent pools, agents and the phases waiting for them (infra/resources.yaml:
AgentPoolsTable, AgentsTable, AgentOffersTable)."""
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


class AgentsByPool(GlobalSecondaryIndex):
    Meta = index_meta("by_pool")
    pool_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class AgentModel(Model):
    """GetItem by id; a pool's agents, oldest first: Query by_pool."""
    Meta = meta("agents")
    id = UnicodeAttribute(hash_key=True)
    pool_id = UnicodeAttribute()
    org = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    status = UnicodeAttribute(default="idle")
    last_ping_at = UnicodeAttribute(null=True)
    ip_address = UnicodeAttribute(null=True)
    by_pool = AgentsByPool()


class AgentOfferModel(Model):
    """A pool's waiting phases, oldest first: Query pool_id (Limit n); taken by a conditional
    delete."""
    Meta = meta("agent-offers")
    pool_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    subject_id = UnicodeAttribute()
    phase = UnicodeAttribute()
    task_token = UnicodeAttribute()
