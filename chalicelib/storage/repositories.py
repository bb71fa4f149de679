"""Repositories: load domain entities, and write them back on conditions.

A failed DynamoDB condition is never an internal error: `conditional()` turns it into the
domain's `Conflict`, which the API maps to 409.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from pynamodb.connection import Connection
from pynamodb.exceptions import (DeleteError, DoesNotExist, PutError, TransactWriteError,
                                 UpdateError)
from pynamodb.transactions import TransactWrite

from ..config import settings
from ..domain.configuration_versions import ConfigurationVersion, CVStatus, Transition
from ..domain.errors import Conflict, NotFound
from .models import ConfigurationVersionModel, WorkspaceModel

_CONDITION_FAILED = ("ConditionalCheckFailedException", "TransactionCanceledException")


@contextmanager
def conditional(message: str) -> Iterator[None]:
    try:
        yield
    except (PutError, UpdateError, DeleteError, TransactWriteError) as exc:
        if exc.cause_response_code in _CONDITION_FAILED:
            raise Conflict(message) from exc
        raise


def transaction() -> TransactWrite:
    # pynamodb needs an explicit connection for transactions.
    return TransactWrite(connection=Connection(region=settings().region))


def get_or_404(model, key, what: str, range_key=None):
    try:
        return model.get(key, range_key) if range_key is not None else model.get(key)
    except DoesNotExist:
        raise NotFound(f"{what} {key} not found") from None


# -- configuration versions -------------------------------------------------------------------

def _cv_from(item: ConfigurationVersionModel) -> ConfigurationVersion:
    return ConfigurationVersion(
        id=item.id, workspace_id=item.workspace_id, org=item.org, seq=int(item.seq),
        created_at=item.created_at, status=CVStatus(item.status), source=item.source,
        speculative=item.speculative, provisional=item.provisional,
        auto_queue_runs=item.auto_queue_runs,
        status_timestamps=dict(item.status_timestamps.as_dict() if item.status_timestamps else {}),
        error=item.error, error_message=item.error_message,
        ingress=item.ingress.as_dict() if item.ingress else None,
        blob_version=item.blob_version, size=int(item.size) if item.size is not None else None,
        active_runs=int(item.active_runs or 0), vcs=bool(item.vcs))


def _cv_item(cv: ConfigurationVersion) -> ConfigurationVersionModel:
    return ConfigurationVersionModel(
        id=cv.id, workspace_id=cv.workspace_id, org=cv.org, seq=cv.seq, status=cv.status.value,
        source=cv.source, speculative=cv.speculative, provisional=cv.provisional,
        auto_queue_runs=cv.auto_queue_runs, status_timestamps=cv.status_timestamps,
        error=cv.error, error_message=cv.error_message, ingress=cv.ingress,
        blob_version=cv.blob_version, size=cv.size, active_runs=cv.active_runs, vcs=cv.vcs,
        created_at=cv.created_at)


def load_cv(cv_id: str) -> ConfigurationVersion:
    return _cv_from(get_or_404(ConfigurationVersionModel, cv_id, "configuration version"))


def find_cv(cv_id: str) -> ConfigurationVersion | None:
    try:
        return _cv_from(ConfigurationVersionModel.get(cv_id))
    except DoesNotExist:
        return None


def insert_cv(workspace: WorkspaceModel, build) -> ConfigurationVersion:
    """Allocate the workspace's next dense sequence number and store the version built by
    `build(seq)` in one transaction, so page N of the list can be addressed by seq range."""
    for _ in range(8):
        current = int(workspace.cv_seq or 0)
        cv = build(current + 1)
        try:
            with transaction() as tx:
                tx.update(workspace, actions=[WorkspaceModel.cv_seq.set(current + 1)],
                          condition=(WorkspaceModel.cv_seq == current)
                          if current else WorkspaceModel.cv_seq.does_not_exist()
                          | (WorkspaceModel.cv_seq == 0))
                tx.save(_cv_item(cv), condition=ConfigurationVersionModel.id.does_not_exist())
            return cv
        except TransactWriteError as exc:
            if exc.cause_response_code not in _CONDITION_FAILED:
                raise
            workspace.refresh()
    raise Conflict("too many concurrent configuration version creations; retry")


def save_cv_transition(cv: ConfigurationVersion, move: Transition, **extra_conditions) -> None:
    """Write the whole entity, on the condition that the stored status is still the one the
    transition started from (a concurrent move makes this a Conflict)."""
    item = _cv_item(cv)
    condition = ConfigurationVersionModel.status == move.from_status.value
    with conditional(f"configuration version {cv.id} changed concurrently "
                     f"(expected {move.from_status.value})"):
        item.save(condition=condition)


def save_cv_fields(cv: ConfigurationVersion, *, expected: CVStatus) -> None:
    """Write non-status fields, on the condition that the status has not moved meanwhile."""
    with conditional(f"configuration version {cv.id} changed concurrently"):
        _cv_item(cv).save(condition=ConfigurationVersionModel.status == expected.value)


def cv_page(workspace_id: str, total: int, page: int, size: int) -> list[ConfigurationVersion]:
    """Newest first. Items hold seq 1..total densely, so page N is one bounded range Query."""
    high = total - (page - 1) * size
    low = max(1, high - size + 1)
    if high < 1:
        return []
    items = ConfigurationVersionModel.by_workspace.query(
        workspace_id, ConfigurationVersionModel.seq.between(low, high), scan_index_forward=False)
    return [_cv_from(i) for i in items]
