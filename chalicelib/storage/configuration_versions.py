"""Configuration versions in DynamoDB. Access patterns: GetItem by id; page N of a workspace's
versions (by_workspace_seq, seq BETWEEN); soft-deleted backing data due for purge (purge_due)."""
from __future__ import annotations

from ..domain.configuration_versions import ConfigurationVersion, CVStatus
from ..domain.errors import NotFound
from ..domain.lifecycle import Transition
from ..domain.workspaces import Workspace
from . import base, paging, workspaces
from .models import ConfigurationVersionModel as Model
from .models import WorkspaceModel

PURGE_SHARD = "due"


def _from(item: Model) -> ConfigurationVersion:
    return ConfigurationVersion(
        id=item.id, workspace_id=item.workspace_id, org=item.org, seq=int(item.seq),
        created_at=item.created_at, status=CVStatus(item.status), source=item.source,
        speculative=item.speculative, provisional=item.provisional,
        auto_queue_runs=item.auto_queue_runs, status_timestamps=base.plain(item.status_timestamps),
        error=item.error, error_message=item.error_message,
        ingress=base.plain(item.ingress) if item.ingress else None,
        blob_version=item.blob_version, size=int(item.size) if item.size is not None else None,
        active_runs=int(item.active_runs or 0), vcs=bool(item.vcs), purge_at=item.purge_at,
        version=item.version)


def item_of(cv: ConfigurationVersion) -> Model:
    item = Model(
        id=cv.id, workspace_id=cv.workspace_id, org=cv.org, seq=cv.seq, status=cv.status.value,
        source=cv.source, speculative=cv.speculative, provisional=cv.provisional,
        auto_queue_runs=cv.auto_queue_runs, status_timestamps=cv.status_timestamps,
        error=cv.error, error_message=cv.error_message, ingress=cv.ingress,
        blob_version=cv.blob_version, size=cv.size, active_runs=cv.active_runs, vcs=cv.vcs,
        purge_at=cv.purge_at, purge_shard=PURGE_SHARD if cv.purge_at else None,
        created_at=cv.created_at)
    if cv.version is not None:
        item.version = cv.version
    return item


def pending_at_start() -> list[ConfigurationVersion]:
    """Configuration versions still waiting for their archive (a restart's reconciliation)."""
    return [_from(item) for item in Model.scan(Model.status == "pending")]


def find(cv_id: str) -> ConfigurationVersion | None:
    return base.find(Model, _from, cv_id)


def load(cv_id: str) -> ConfigurationVersion:
    cv = find(cv_id)
    if cv is None:
        raise NotFound(f"configuration version {cv_id} not found")
    return cv


def insert(ws: Workspace, build) -> ConfigurationVersion:
    cv, item = base.insert_in_sequence([(workspaces.item_of(ws), WorkspaceModel.cv_seq)],
                                       build, item_of)
    cv.version = item.version
    return cv


def save(cv: ConfigurationVersion, move: Transition | None = None) -> None:
    """Conditional on the status the move started from (or the status read) and the version."""
    item = item_of(cv)
    base.save(item, Model.status, (move.from_status if move else cv.status).value,
              f"configuration version {cv.id}")
    cv.version = item.version


def ids_due_for_purge(now: str) -> list[str]:
    return [i.id for i in Model.purge_due.query(PURGE_SHARD, Model.purge_at <= now)]


def newest(workspace_id: str, limit: int = 10) -> list[ConfigurationVersion]:
    """A workspace's newest configuration versions, newest first (one bounded Query)."""
    return [_from(item) for item in Model.by_workspace.query(
        workspace_id, scan_index_forward=False, limit=limit)]


def page(workspace_id: str, total: int, number: int, size: int) -> list[ConfigurationVersion]:
    return paging.page_by_seq(Model.by_workspace, workspace_id, Model.seq, total, number, size, _from)
