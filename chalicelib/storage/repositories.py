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


_connections: dict[int, Connection] = {}


def transaction() -> TransactWrite:
    """pynamodb needs an explicit connection for transactions. A new one costs a botocore
    client (~75 ms, measured): one per process, renewed when the service's AWS clients are
    (tests swap emulators between cases)."""
    from ..aws.clients import client
    key = id(client("dynamodb"))
    connection = _connections.get(key)
    if connection is None:
        _connections.clear()
        connection = _connections[key] = Connection(region=settings().region)
    return TransactWrite(connection=connection)


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
        active_runs=int(item.active_runs or 0), vcs=bool(item.vcs), purge_at=item.purge_at)


def _cv_item(cv: ConfigurationVersion) -> ConfigurationVersionModel:
    return ConfigurationVersionModel(
        id=cv.id, workspace_id=cv.workspace_id, org=cv.org, seq=cv.seq, status=cv.status.value,
        source=cv.source, speculative=cv.speculative, provisional=cv.provisional,
        auto_queue_runs=cv.auto_queue_runs, status_timestamps=cv.status_timestamps,
        error=cv.error, error_message=cv.error_message, ingress=cv.ingress,
        blob_version=cv.blob_version, size=cv.size, active_runs=cv.active_runs, vcs=cv.vcs,
        purge_at=cv.purge_at, purge_shard=PURGE_SHARD if cv.purge_at else None,
        created_at=cv.created_at)


def load_cv(cv_id: str) -> ConfigurationVersion:
    return _cv_from(get_or_404(ConfigurationVersionModel, cv_id, "configuration version"))


def find_cv(cv_id: str) -> ConfigurationVersion | None:
    try:
        return _cv_from(ConfigurationVersionModel.get(cv_id))
    except DoesNotExist:
        return None


def retry_change(what: str, load, store, stale: type[Exception], change, *, attempts: int = 5):
    """Load, apply a domain change, store conditionally; a concurrent write (`stale`) means
    reload and decide again. Domain refusals (Conflict from the change itself) propagate."""
    for _ in range(attempts):
        entity = load()
        if entity is None:
            raise NotFound(f"{what} not found")
        result = change(entity)
        try:
            store(entity, result)
            return entity, result
        except stale:
            continue
    raise Conflict(f"{what} is changing too quickly; retry")


def insert_in_sequence(workspace: WorkspaceModel, counter, build, to_item, *, extra_actions=(),
                       also: tuple = ()):
    """Allocate the workspace's next dense number on `counter` (a WorkspaceModel attribute) and
    store `to_item(build(n))` in the same transaction, so page N of a list is one seq range.
    `also`: more (item, counter) pairs numbered in the same transaction; build gets every
    number. A concurrent creation makes a counter condition fail: re-read and try again."""
    counters = ((workspace, counter), *also)
    for _ in range(8):
        numbers = [int(getattr(owner, attr.attr_name) or 0) + 1 for owner, attr in counters]
        entity = build(*numbers)
        item = to_item(entity)
        try:
            with transaction() as tx:
                for index, ((owner, attr), n) in enumerate(zip(counters, numbers)):
                    actions = [attr.set(n), *(extra_actions(entity) if index == 0 else ())]
                    tx.update(owner, actions=actions, condition=(attr == n - 1) if n > 1
                              else attr.does_not_exist() | (attr == 0))
                tx.save(item, condition=type(item).id.does_not_exist())
            return entity, item
        except TransactWriteError as exc:
            if exc.cause_response_code not in _CONDITION_FAILED:
                raise
            for owner, _ in counters:
                owner.refresh()
    raise Conflict("too many concurrent creations on this workspace; retry")


def insert_cv(workspace: WorkspaceModel, build) -> ConfigurationVersion:
    cv, _ = insert_in_sequence(workspace, WorkspaceModel.cv_seq, build, _cv_item,
                               extra_actions=lambda cv: ())
    return cv


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


PURGE_SHARD = "due"


def cv_ids_due_for_purge(now: str) -> list[str]:
    return [i.id for i in ConfigurationVersionModel.purge_due.query(
        PURGE_SHARD, ConfigurationVersionModel.purge_at <= now)]


def cv_page(workspace_id: str, total: int, page: int, size: int) -> list[ConfigurationVersion]:
    """Newest first. Items hold seq 1..total densely, so page N is one bounded range Query."""
    high = total - (page - 1) * size
    low = max(1, high - size + 1)
    if high < 1:
        return []
    items = ConfigurationVersionModel.by_workspace.query(
        workspace_id, ConfigurationVersionModel.seq.between(low, high), scan_index_forward=False)
    return [_cv_from(i) for i in items]


# -- runs ----------------------------------------------------------------------------------------

from ..domain.runs import Phase, PhaseStatus, Run, RunOptions, RunStatus  # noqa: E402
from ..domain.runs import Transition as RunTransition  # noqa: E402
from .models import RunModel  # noqa: E402


def _phase_from(data: dict, default_id: str) -> Phase:
    if not data:
        return Phase(id=default_id)
    return Phase(id=data["id"], status=PhaseStatus(data["status"]),
                 status_timestamps=dict(data.get("status_timestamps") or {}),
                 has_changes=bool(data.get("has_changes")), additions=int(data.get("additions", 0)),
                 changes=int(data.get("changes", 0)), destructions=int(data.get("destructions", 0)),
                 log_archived=bool(data.get("log_archived")))


def _phase_dict(phase: Phase) -> dict:
    return {"id": phase.id, "status": phase.status.value, "status_timestamps": phase.status_timestamps,
            "has_changes": phase.has_changes, "additions": phase.additions, "changes": phase.changes,
            "destructions": phase.destructions, "log_archived": phase.log_archived}


def _run_from(item: RunModel) -> Run:
    suffix = item.id.split("-", 1)[1]
    opts = item.options.as_dict() if item.options else {}
    run = Run(id=item.id, workspace_id=item.workspace_id, org=item.org, cv_id=item.cv_id,
              seq=int(item.seq), created_at=item.created_at, options=RunOptions(**opts),
              speculative=item.speculative, source=item.source, created_by=item.created_by,
              status=RunStatus(item.status),
              status_timestamps=dict(item.status_timestamps.as_dict() if item.status_timestamps else {}),
              plan=_phase_from(item.plan.as_dict() if item.plan else {}, f"plan-{suffix}"),
              apply=_phase_from(item.apply.as_dict() if item.apply else {}, f"apply-{suffix}"),
              has_changes=item.has_changes, error_text=item.error_text,
              cancel_requested_at=item.cancel_requested_at,
              force_cancel_available_at=item.force_cancel_available_at,
              confirm_token=item.confirm_token, terraform_version=item.terraform_version,
              comments=list(item.comments or []), worker=item.worker,
              state_version_id=item.state_version_id, version=item.version)
    return run


def _run_item(run: Run) -> RunModel:
    pending_in_queue = run.status == RunStatus.PENDING and run.takes_workspace_lock
    item = RunModel(
        id=run.id, workspace_id=run.workspace_id, org=run.org, cv_id=run.cv_id, seq=run.seq,
        queue_ws=run.workspace_id if pending_in_queue else None, status=run.status.value,
        status_timestamps=run.status_timestamps, created_at=run.created_at,
        created_by=run.created_by, source=run.source, speculative=run.speculative,
        options=vars(run.options), plan=_phase_dict(run.plan), apply=_phase_dict(run.apply),
        has_changes=run.has_changes, error_text=run.error_text,
        cancel_requested_at=run.cancel_requested_at,
        force_cancel_available_at=run.force_cancel_available_at,
        confirm_token=run.confirm_token, terraform_version=run.terraform_version,
        comments=run.comments, worker=run.worker, state_version_id=run.state_version_id)
    if run.version is not None:
        item.version = run.version
    return item


def find_run(run_id: str) -> Run | None:
    try:
        return _run_from(RunModel.get(run_id))
    except DoesNotExist:
        return None


def insert_run(workspace: WorkspaceModel, build) -> Run:
    run, item = insert_in_sequence(workspace, WorkspaceModel.run_seq, build, _run_item,
                                   extra_actions=lambda r: (WorkspaceModel.latest_run_id.set(r.id),))
    run.version = item.version
    return run


class StaleRun(Conflict):
    """The run changed since it was read: reload and decide again."""


def save_run(run: Run, move: RunTransition | None = None) -> None:
    """Write the whole run on two conditions: its stored status is the move's origin (or, for
    field-only writes, the status read), and nobody wrote it since it was read (version)."""
    expected = move.from_status if move else run.status
    item = _run_item(run)
    try:
        item.save(condition=RunModel.status == expected.value)
    except PutError as exc:
        if exc.cause_response_code in _CONDITION_FAILED:
            raise StaleRun(f"run {run.id} changed concurrently; retry") from exc
        raise
    run.version = item.version


def run_page(workspace_id: str, total: int, page: int, size: int) -> list[Run]:
    high = total - (page - 1) * size
    low = max(1, high - size + 1)
    if high < 1:
        return []
    return [_run_from(i) for i in RunModel.by_workspace.query(
        workspace_id, RunModel.seq.between(low, high), scan_index_forward=False)]


def runs_filtered(workspace_id: str, condition) -> list[Run]:
    """Filtered listings read the workspace's partition with a filter (cost grows with it)."""
    return [_run_from(i) for i in RunModel.by_workspace.query(
        workspace_id, filter_condition=condition, scan_index_forward=False)]


def oldest_pending_run_id(workspace_id: str) -> str | None:
    for item in RunModel.pending.query(workspace_id, limit=1, scan_index_forward=True):
        return item.id
    return None


# -- Terrakube jobs ------------------------------------------------------------------------------

import json  # noqa: E402

from ..domain.jobs import Job, JobStatus, Step  # noqa: E402
from .models import JobModel  # noqa: E402


def _job_from(item: JobModel) -> Job:
    return Job(id=item.id, workspace_id=item.workspace_id, org=item.org, cv_id=item.cv_id,
               seq=int(item.seq), org_seq=int(item.org_seq or 0), created_at=item.created_at,
               steps=[Step.from_dict(s) for s in json.loads(item.steps_json)],
               status=JobStatus(item.status), tcl=item.tcl,
               template_reference=item.template_reference, created_by=item.created_by,
               updated_at=item.updated_at, cancel_requested_at=item.cancel_requested_at,
               approval_token=item.approval_token,
               approval_step=int(item.approval_step) if item.approval_step is not None else None,
               has_changes=bool(item.has_changes), comments=item.comments, via=item.via,
               delete_requested=bool(item.delete_requested), version=item.version)


def _job_item(job: Job) -> JobModel:
    item = JobModel(
        id=job.id, workspace_id=job.workspace_id, org=job.org, cv_id=job.cv_id, seq=job.seq,
        org_seq=job.org_seq, queue_ws=job.workspace_id if job.status == JobStatus.PENDING else None,
        status=job.status.value, steps_json=json.dumps([s.to_dict() for s in job.steps]),
        tcl=job.tcl, template_reference=job.template_reference, created_at=job.created_at,
        created_by=job.created_by, updated_at=job.updated_at,
        cancel_requested_at=job.cancel_requested_at, approval_token=job.approval_token,
        approval_step=job.approval_step, has_changes=job.has_changes, comments=job.comments,
        via=job.via, delete_requested=job.delete_requested)
    if job.version is not None:
        item.version = job.version
    return item


def find_job(job_id: str) -> Job | None:
    try:
        return _job_from(JobModel.get(job_id))
    except DoesNotExist:
        return None


def insert_job(workspace: WorkspaceModel, organization, build) -> Job:
    """Numbered twice in one transaction: in its workspace and in its organization."""
    job, item = insert_in_sequence(workspace, WorkspaceModel.job_seq, build, _job_item,
                                   extra_actions=lambda j: (),
                                   also=((organization, type(organization).job_seq),))
    job.version = item.version
    return job


class StaleJob(Conflict):
    """The job changed since it was read: reload and decide again."""


def save_job(job: Job) -> None:
    """Conditional on the version read: nobody changed the job since (a worker finishing a
    step cannot overwrite a cancel or a rejection)."""
    item = _job_item(job)
    try:
        item.save()
    except PutError as exc:
        if exc.cause_response_code in _CONDITION_FAILED:
            raise StaleJob(f"job {job.id} changed concurrently; retry") from exc
        raise
    job.version = item.version


def delete_job(job: Job) -> None:
    with conditional(f"job {job.id} changed concurrently"):
        _job_item(job).delete()     # pynamodb adds `version = <read>` to the condition


def job_page(workspace_id: str, total: int, page: int, size: int) -> list[Job]:
    """Jobs keep their dense seq after a delete: a page may hold fewer than `size`."""
    high = total - (page - 1) * size
    low = max(1, high - size + 1)
    if high < 1:
        return []
    return [_job_from(i) for i in JobModel.by_workspace.query(
        workspace_id, JobModel.seq.between(low, high), scan_index_forward=False)]


def org_job_page(org: str, total: int, page: int, size: int) -> list[Job]:
    high = total - (page - 1) * size
    low = max(1, high - size + 1)
    if high < 1:
        return []
    return [_job_from(i) for i in JobModel.by_org.query(
        org, JobModel.org_seq.between(low, high), scan_index_forward=False)]


def oldest_pending_job(workspace_id: str) -> Job | None:
    for item in JobModel.pending.query(workspace_id, limit=1, scan_index_forward=True):
        return find_job(item.id)
    return None
