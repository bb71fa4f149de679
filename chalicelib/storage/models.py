"""pynamodb models. Tables, keys and GSIs are those of infra/resources.yaml, whose header lists
every access pattern; each model's docstring names the ones it serves."""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, ListAttribute, MapAttribute, NumberAttribute,
                                 UnicodeAttribute, VersionAttribute)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from .schema import index_meta as _index_meta, meta as _meta
from .agent_models import AgentModel, AgentOfferModel, AgentPoolModel
from .state_models import StateVersionModel
from .variable_models import VARIABLE_MODELS


def _by_workspace_seq() -> GlobalSecondaryIndex:
    """Page N of a workspace's configuration versions, runs or jobs: its dense seq range.
    (A class per model: pynamodb binds an index class to the model that declares it.)"""
    return type("ByWorkspaceSeq", (GlobalSecondaryIndex,), {
        "Meta": _index_meta("by_workspace_seq"),
        "workspace_id": UnicodeAttribute(hash_key=True), "seq": NumberAttribute(range_key=True)})()


def _pending_by_workspace() -> GlobalSecondaryIndex:
    """Sparse: queue_ws is set only while a run or job waits for its workspace."""
    return type("PendingByWorkspace", (GlobalSecondaryIndex,), {
        "Meta": type("Meta", (), {"index_name": "pending_by_workspace", "projection": KeysOnlyProjection()}),
        "queue_ws": UnicodeAttribute(hash_key=True), "seq": NumberAttribute(range_key=True)})()


def _open_leases() -> GlobalSecondaryIndex:
    """Sparse: lease_open is set only while a worker holds a phase of the run or job, with
    lease_due the time its lease is lost without a heartbeat. The sweeper of lost phases
    (services/lost_phases.py) reads the overdue ones: one Query, no Scan."""
    return type("OpenLeases", (GlobalSecondaryIndex,), {
        "Meta": type("Meta", (), {"index_name": "open_leases", "projection": KeysOnlyProjection()}),
        "lease_open": UnicodeAttribute(hash_key=True), "lease_due": NumberAttribute(range_key=True)})()


class OrganizationsByKind(GlobalSecondaryIndex):
    Meta = _index_meta("by_kind_name")
    kind = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class OrganizationModel(Model):
    """GetItem by key (`name`: the name it was created with); all organizations (site admin) by
    Query on by_kind_name. `display_name` is set once it is renamed."""
    Meta = _meta("organizations")
    name = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="organization")
    display_name = UnicodeAttribute(null=True)
    email = UnicodeAttribute()
    created_at = UnicodeAttribute()
    session_timeout = NumberAttribute(null=True)
    session_remember = NumberAttribute(null=True)
    collaborator_auth_policy = UnicodeAttribute(default="password")
    cost_estimation_enabled = BooleanAttribute(default=False)
    token_id = UnicodeAttribute(null=True)
    job_seq = NumberAttribute(default=0)      # Terrakube jobs of the organization (dense)
    default_execution_mode = UnicodeAttribute(default="remote")
    default_agent_pool_id = UnicodeAttribute(null=True)
    by_kind = OrganizationsByKind()


class OrganizationNameModel(Model):
    """The claim of an organization's current name, `name#<name>` -> its key (same table: no
    key of an organization contains '#'; no `kind`, so not in by_kind_name)."""
    Meta = _meta("organizations")
    name = UnicodeAttribute(hash_key=True)
    org_key = UnicodeAttribute()


class UsersByEmail(GlobalSecondaryIndex):
    Meta = _index_meta("by_email")
    email = UnicodeAttribute(hash_key=True)


class UserModel(Model):
    """GetItem by id; find by email (memberships invite by email)."""
    Meta = _meta("users")
    id = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute()
    email = UnicodeAttribute()
    site_admin = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    by_email = UsersByEmail()


class TokensById(GlobalSecondaryIndex):
    Meta = _index_meta("by_id")
    id = UnicodeAttribute(hash_key=True)


class TokensByOwner(GlobalSecondaryIndex):
    Meta = _index_meta("by_owner")
    owner = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class TokenModel(Model):
    """GetItem by sha256 of the secret on every request; only the hash is stored."""
    Meta = _meta("tokens")
    token_hash = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    owner = UnicodeAttribute()         # "user:<id>" or "organization:<name>"
    kind = UnicodeAttribute()          # user | organization
    user_id = UnicodeAttribute(null=True)
    org = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    expired_at = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    by_id = TokensById()
    by_owner = TokensByOwner()


class MembershipsByUser(GlobalSecondaryIndex):
    Meta = _index_meta("by_user")
    user_id = UnicodeAttribute(hash_key=True)
    org = UnicodeAttribute(range_key=True)


class MembershipsById(GlobalSecondaryIndex):
    Meta = _index_meta("by_id")
    id = UnicodeAttribute(hash_key=True)


class MembershipModel(Model):
    """A user in an organization's owners team. Org members: Query org; a user's orgs: by_user."""
    Meta = _meta("memberships")
    org = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    team = UnicodeAttribute(default="owners")
    status = UnicodeAttribute(default="active")
    created_at = UnicodeAttribute()
    by_user = MembershipsByUser()
    by_id = MembershipsById()


class WorkspacesByOrgName(GlobalSecondaryIndex):
    Meta = _index_meta("by_org_name")
    org = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class WorkspaceModel(Model):
    """GetItem by id; by org + name and the org's list (name order) through by_org_name."""
    Meta = _meta("workspaces")
    id = UnicodeAttribute(hash_key=True)
    org = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    auto_apply = BooleanAttribute(default=False)
    terraform_version = UnicodeAttribute(default="latest")
    working_directory = UnicodeAttribute(null=True)
    execution_mode = UnicodeAttribute(default="remote")
    agent_pool_id = UnicodeAttribute(null=True)
    setting_overwrites = BooleanAttribute(default=True)
    speculative_enabled = BooleanAttribute(default=True)
    queue_all_runs = BooleanAttribute(default=False)
    allow_destroy_plan = BooleanAttribute(default=True)
    file_triggers_enabled = BooleanAttribute(default=True)
    trigger_prefixes = ListAttribute(of=UnicodeAttribute, default=list)
    tag_names = ListAttribute(of=UnicodeAttribute, default=list)
    engine = UnicodeAttribute(null=True)
    locked = BooleanAttribute(default=False)
    locked_by = UnicodeAttribute(null=True)
    lock_reason = UnicodeAttribute(null=True)
    cv_seq = NumberAttribute(default=0)
    current_cv_id = UnicodeAttribute(null=True)
    current_cv_seq = NumberAttribute(default=0)
    run_seq = NumberAttribute(default=0)
    job_seq = NumberAttribute(default=0)
    # The run or Terrakube job (job-...) holding the workspace: runs and jobs share one queue.
    current_run_id = UnicodeAttribute(null=True)
    latest_run_id = UnicodeAttribute(null=True)
    current_sv_id = UnicodeAttribute(null=True)
    current_sv_serial = NumberAttribute(null=True)
    current_sv_resources = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_org_name = WorkspacesByOrgName()


class CVsPurgeDue(GlobalSecondaryIndex):
    Meta = type("Meta", (), {"index_name": "purge_due", "projection": KeysOnlyProjection()})
    purge_shard = UnicodeAttribute(hash_key=True)
    purge_at = UnicodeAttribute(range_key=True)


class ConfigurationVersionModel(Model):
    """GetItem by id; page N of a workspace's list: Query by_workspace_seq, seq BETWEEN."""
    Meta = _meta("configuration-versions")
    id = UnicodeAttribute(hash_key=True)
    workspace_id = UnicodeAttribute()
    org = UnicodeAttribute()
    seq = NumberAttribute()
    status = UnicodeAttribute()
    source = UnicodeAttribute()
    speculative = BooleanAttribute(default=False)
    provisional = BooleanAttribute(default=False)
    auto_queue_runs = BooleanAttribute(default=True)
    status_timestamps = MapAttribute(default=dict)
    error = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    ingress = MapAttribute(null=True)
    blob_version = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    active_runs = NumberAttribute(default=0)
    vcs = BooleanAttribute(default=False)
    purge_shard = UnicodeAttribute(null=True)     # set only while soft-deleted
    purge_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    version = VersionAttribute()       # every save is conditional on the version read
    by_workspace = _by_workspace_seq()
    purge_due = CVsPurgeDue()


class RunModel(Model):
    """GetItem by id (plan-X / apply-X map to run-X); page N of a workspace's runs:
    Query by_workspace_seq, seq BETWEEN; the oldest waiting run: pending_by_workspace, Limit 1."""
    Meta = _meta("runs")
    id = UnicodeAttribute(hash_key=True)
    workspace_id = UnicodeAttribute()
    org = UnicodeAttribute()
    cv_id = UnicodeAttribute()
    seq = NumberAttribute()
    queue_ws = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    status_timestamps = MapAttribute(default=dict)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute(null=True)
    source = UnicodeAttribute(default="tfe-api")
    speculative = BooleanAttribute(default=False)
    options = MapAttribute(default=dict)
    plan = MapAttribute(default=dict)
    apply = MapAttribute(default=dict)
    has_changes = BooleanAttribute(default=False)
    error_text = UnicodeAttribute(null=True)
    cancel_requested_at = UnicodeAttribute(null=True)
    force_cancel_available_at = UnicodeAttribute(null=True)
    confirm_token = UnicodeAttribute(null=True)
    terraform_version = UnicodeAttribute(default="1.0.3")
    comments = ListAttribute(default=list)
    confirmed_by = UnicodeAttribute(null=True)
    state_version_id = UnicodeAttribute(null=True)
    lease_open = UnicodeAttribute(null=True)
    lease_due = NumberAttribute(null=True)
    # Every save is conditional on the version read (pynamodb adds the condition), so a
    # worker finishing a phase cannot overwrite a cancel request or a stored task token.
    version = VersionAttribute()
    by_workspace = _by_workspace_seq()
    pending = _pending_by_workspace()
    open_leases = _open_leases()


class LogChunkModel(Model):
    """Live logs: Query log_id (plan-X / apply-X) in seq order."""
    Meta = _meta("log-chunks")
    log_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    data = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)


class TaskModel(Model):
    """A Consul-Terraform-Sync task: GetItem (org, name); the organization's tasks: Query org."""
    Meta = _meta("tasks")
    org = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)
    definition = MapAttribute(default=dict)     # the task object as CTS renders it
    workspace_id = UnicodeAttribute()
    deleting = BooleanAttribute(default=False)
    next_run_at = UnicodeAttribute(null=True)   # schedule condition: the next cron time
    buffer_first_at = NumberAttribute(null=True)  # buffer period: first and last event (epoch s)
    buffer_last_at = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    owner = UnicodeAttribute(null=True)         # the creating user's id


class ConsulServiceModel(Model):
    """The latest health entries of a Consul service (as a watch posts them)."""
    Meta = _meta("consul-services")
    org = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)
    entries_json = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class ConsulKVModel(Model):
    """Consul KV entries (as a key/keyprefix watch posts them): Query org, begins_with path."""
    Meta = _meta("consul-kv")
    org = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    value = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class TaskEventModel(Model):
    """One run of a CTS task. A task's events, newest first: Query task_key."""
    Meta = _meta("task-events")
    task_key = UnicodeAttribute(hash_key=True)    # "<org>/<task>"
    end_time = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    success = BooleanAttribute()
    start_time = UnicodeAttribute()
    run_id = UnicodeAttribute()
    error = UnicodeAttribute(null=True)
    task = MapAttribute(default=dict)


class JobsByOrg(GlobalSecondaryIndex):
    Meta = _index_meta("by_org_seq")
    org = UnicodeAttribute(hash_key=True)
    org_seq = NumberAttribute(range_key=True)


class JobModel(Model):
    """A Terrakube job: GetItem by id; page N of a workspace's jobs: Query by_workspace_seq;
    page N of an organization's: by_org_seq; the oldest waiting job: pending_by_workspace."""
    Meta = _meta("jobs")
    id = UnicodeAttribute(hash_key=True)
    workspace_id = UnicodeAttribute()
    org = UnicodeAttribute()
    cv_id = UnicodeAttribute()
    seq = NumberAttribute()
    org_seq = NumberAttribute(default=0)
    queue_ws = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    steps_json = UnicodeAttribute()
    tcl = UnicodeAttribute(null=True)
    template_reference = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    cancel_requested_at = UnicodeAttribute(null=True)
    approval_token = UnicodeAttribute(null=True)
    approval_step = NumberAttribute(null=True)
    has_changes = BooleanAttribute(default=False)
    comments = UnicodeAttribute(null=True)
    via = UnicodeAttribute(default="api")
    delete_requested = BooleanAttribute(default=False)
    lease_open = UnicodeAttribute(null=True)
    lease_due = NumberAttribute(null=True)
    version = VersionAttribute()
    by_workspace = _by_workspace_seq()
    by_org = JobsByOrg()
    pending = _pending_by_workspace()
    open_leases = _open_leases()


class TemplatesByOrgName(GlobalSecondaryIndex):
    Meta = _index_meta("by_org_name")
    org = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class TemplateModel(Model):
    """A Terrakube template (TCL, base64): GetItem by id; an organization's: Query by_org_name."""
    Meta = _meta("templates")
    id = UnicodeAttribute(hash_key=True)
    org = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    version = UnicodeAttribute(null=True)
    tcl = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_org_name = TemplatesByOrgName()


ALL_MODELS = (OrganizationModel, OrganizationNameModel, UserModel, TokenModel, MembershipModel, WorkspaceModel,
              ConfigurationVersionModel, RunModel, StateVersionModel, LogChunkModel, TaskModel, ConsulServiceModel,
              TaskEventModel, ConsulKVModel, JobModel, TemplateModel, AgentPoolModel, AgentModel,
              AgentOfferModel, *VARIABLE_MODELS)


def reset_connections() -> None:
    """Drop cached botocore clients (tests swap emulators between cases)."""
    for model in ALL_MODELS:
        model._connection = None
