"""pynamodb models of state versions (infra/resources.yaml: StateVersionsTable)."""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from .schema import index_meta, meta


class StateVersionsByWorkspace(GlobalSecondaryIndex):
    Meta = index_meta("by_workspace_serial")
    workspace_id = UnicodeAttribute(hash_key=True)
    serial = NumberAttribute(range_key=True)


class StateVersionModel(Model):
    """GetItem by id; a workspace's versions newest first: Query by_workspace_serial."""
    Meta = meta("state-versions")
    id = UnicodeAttribute(hash_key=True)
    workspace_id = UnicodeAttribute()
    org = UnicodeAttribute()
    serial = NumberAttribute()
    lineage = UnicodeAttribute(null=True)
    md5 = UnicodeAttribute()
    size = NumberAttribute()
    run_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute(null=True)
    terraform_version = UnicodeAttribute(null=True)
    resources = NumberAttribute(default=0)
    outputs = MapAttribute(default=dict)
    status = UnicodeAttribute(default="finalized")     # pending until its state is uploaded
    has_json = BooleanAttribute(default=False)
    by_workspace = StateVersionsByWorkspace()
