"""pynamodb models of variables and variable sets (infra/resources.yaml: VariablesTable,
VarsetsTable, VarsetLinksTable)."""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from .schema import index_meta, meta

# The slots of an owner's data key item (services/sealing.py) and of its bundle: no variable
# slot starts with "#".
OWNER_KEY_SLOT = "#key"
BUNDLE_SLOT = "#bundle"


class VariablesById(GlobalSecondaryIndex):
    Meta = index_meta("by_id")
    id = UnicodeAttribute(hash_key=True)


class VariableModel(Model):
    """A workspace's or a variable set's variable: an owner's list is its bundle (one GetItem)
    or one Query (owner_id); its data key item (slot OWNER_KEY_SLOT); GetItem by id: by_id.
    The slot (category:key) makes a key unique per owner and category, by a condition."""
    Meta = meta("variables")
    owner_id = UnicodeAttribute(hash_key=True)
    slot = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute(null=True)
    org = UnicodeAttribute(null=True)
    key = UnicodeAttribute(null=True)
    category = UnicodeAttribute(null=True)
    value = UnicodeAttribute(null=True)
    sealed = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    hcl = BooleanAttribute(default=False)
    sensitive = BooleanAttribute(default=False)
    version_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    owner_key = UnicodeAttribute(null=True)     # on the data key item only: its ciphertext
    # On the bundle item only: every variable of the owner as one JSON string (null once it
    # outgrows an item), rewritten in the transaction of each change, on the condition that
    # bundle_version is the one read. A phase reads its owners' bundles in one BatchGetItem
    # instead of a Query per owner that reads every variable as an item.
    bundle = UnicodeAttribute(null=True)
    bundle_version = NumberAttribute(null=True)
    by_id = VariablesById()


class VarsetsByOrgName(GlobalSecondaryIndex):
    Meta = index_meta("by_org_name")
    org = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class GlobalVarsets(GlobalSecondaryIndex):
    """Sparse: global_org is set (to the organization) only on a global set."""
    Meta = type("Meta", (), {"index_name": "global_by_org", "projection": KeysOnlyProjection()})
    global_org = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class VarsetModel(Model):
    """A variable set: GetItem by id; an organization's sets in name order (by_org_name, also
    the name's uniqueness check); its global sets (global_by_org). A name is claimed by a
    separate item (`name#<org>/<name>`) in the same transaction, so two sets never share one."""
    Meta = meta("varsets")
    id = UnicodeAttribute(hash_key=True)
    org = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    global_ = BooleanAttribute(default=False, attr_name="global")
    priority = BooleanAttribute(default=False)
    global_org = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)   # an update's condition: unchanged since read
    by_org_name = VarsetsByOrgName()
    global_by_org = GlobalVarsets()


class VarsetNameModel(Model):
    """The claim of a set's name in its organization (id `name#<org>/<name>`)."""
    Meta = meta("varsets")
    id = UnicodeAttribute(hash_key=True)
    varset_id = UnicodeAttribute(null=True)


class LinksByWorkspace(GlobalSecondaryIndex):
    Meta = type("Meta", (), {"index_name": "by_workspace", "projection": KeysOnlyProjection()})
    workspace_id = UnicodeAttribute(hash_key=True)
    varset_id = UnicodeAttribute(range_key=True)


class VarsetLinkModel(Model):
    """A set applied to a workspace: a set's workspaces (Query varset_id); a workspace's sets
    (by_workspace)."""
    Meta = meta("varset-links")
    varset_id = UnicodeAttribute(hash_key=True)
    workspace_id = UnicodeAttribute(range_key=True)
    by_workspace = LinksByWorkspace()


VARIABLE_MODELS = (VariableModel, VarsetModel, VarsetNameModel, VarsetLinkModel)
